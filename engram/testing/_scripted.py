"""ScriptedLM: answers chosen by signature or input, for unit tests.

    lm = scripted_lm({"answer": "Paris"})                       # every call answers this
    lm = scripted_lm([{"answer": "a"}, {"answer": "b"}])         # in order, then the last repeats
    lm = scripted_lm({"question -> answer": {"answer": "x"}})    # by signature key
    lm = scripted_lm(lambda call: {"answer": call.inputs["question"].upper()})

Values may be strings, numbers, lists, dicts or pydantic models; they are rendered the way
DSPy's adapter expects, so typed outputs parse. A stand-in, labeled ``offline/scripted``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from engram.testing._engine import OfflineEngine, make_lm
from engram.testing._protocol import ParsedCall

Responder = Callable[[ParsedCall], dict[str, Any] | str]


class ScriptedEngine(OfflineEngine):
    """Answers from a script; records every :class:`ParsedCall` in ``requests``."""

    def __init__(self, script: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.script = script
        self.requests: list[ParsedCall] = []
        self._position = 0

    def _pick(self, call: ParsedCall) -> Any:
        script = self.script
        if callable(script):
            return script(call)
        if isinstance(script, Sequence) and not isinstance(script, (str, dict)):
            with self._lock:
                index = min(self._position, len(script) - 1)
                self._position += 1
            item = script[index]
            return item(call) if callable(item) else item
        if isinstance(script, dict):
            keyed = {k: v for k, v in script.items() if "->" in k or k.startswith("~")}
            for key, value in keyed.items():
                matched = (key == call.signature_key) if "->" in key else key[1:] in call.text
                if matched:
                    return value(call) if callable(value) else value
            if keyed and len(keyed) == len(script):
                raise LookupError(f"ScriptedLM has no answer for signature '{call.signature_key}'")
            return {k: v for k, v in script.items() if k not in keyed}
        return script

    def answer(self, call: ParsedCall) -> dict[str, Any] | str:
        with self._lock:
            self.requests.append(call)
        answer = self._pick(call)
        if isinstance(answer, dict) and call.output_fields:
            # Fill fields the script left out (e.g. ChainOfThought's reasoning).
            filled = {}
            for name in call.output_fields:
                filled[name] = answer.get(name, "Scripted reasoning." if name == "reasoning" else "")
            return filled
        return answer


def scripted_lm(script: Any, *, name: str = "offline/scripted", **kwargs: Any):
    """A ``dspy.LM`` that answers from ``script`` (see the module docstring). Its engine is ``lm.engine``."""
    return make_lm(ScriptedEngine(script, latency=kwargs.pop("latency", 0.0)), name, **kwargs)
