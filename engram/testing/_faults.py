"""Fault injection for offline stand-ins: what real providers and real models do wrong.

Wrap any offline engine (or an offline ``dspy.LM``) and a chosen fraction of its calls fail:

==================  ===========================================================================
kind                what happens
==================  ===========================================================================
``exception``       the engine raises a provider error (503 / 429) that DSPy turns into
                    ``LMServerError`` / ``LMRateLimitError`` — retryable, as from a real provider
``timeout``         the engine raises ``lm15.TimeoutError`` (DSPy: ``LMTimeoutError``)
``malformed``       the text cannot be parsed by the adapter (no field markers / cut-off JSON)
``missing_field``   one output field is left out
``invented_id``     id-like values (``id``, ``ids``, ``*_id`` fields) become ids never shown
``dropped_variable`` a ``{var}`` / ``{{var}}`` is removed from prompt-like outputs
==================  ===========================================================================

Which call gets which fault is seeded by the call's content and how often that content was
seen, so it does not depend on thread timing and a retried call gets a fresh draw::

    lm = faulty_lm(simulated_lm(), rate=0.3, kinds=("exception", "malformed"), seed=0)
    ...
    lm.engine.faults        # [FaultRecord(call=3, kind='malformed', ...), ...]
    lm.engine.counts()      # {'exception': 2, 'malformed': 1}
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from engram.prompts import find_variables
from engram.testing._engine import OfflineEngine, make_lm
from engram.testing._protocol import ParsedCall, format_outputs, parse_request

FAULT_KINDS = ("exception", "timeout", "malformed", "missing_field", "invented_id", "dropped_variable")
_RAISING = ("exception", "timeout")
_ID_NAME = re.compile(r"^(?:id|ids|\w+_ids?)$")


@dataclass(frozen=True)
class FaultRecord:
    """One injected fault: the engine call number, its kind, the signature and what was changed."""

    call: int
    kind: str
    signature: str
    detail: str = ""


def _is_id_name(name: str) -> bool:
    return bool(_ID_NAME.match(name))


def _fresh_id(old: Any, rng: random.Random, shown: str) -> str:
    """An id shaped like ``old`` (same prefix) that does not occur in the request."""
    text = str(old)
    prefix = re.match(r"^[A-Za-z]+[-_]", text)
    base = prefix.group(0) if prefix else ""
    while True:
        candidate = f"{base}{rng.getrandbits(40):010x}"
        if candidate not in shown:
            return candidate


def invent_ids(value: Any, rng: random.Random, shown: str, key: str = "") -> tuple[Any, int]:
    """Replace id-like values in a JSON-like value; returns (new value, how many were replaced)."""
    if _is_id_name(key):
        if isinstance(value, list):
            return [_fresh_id(v, rng, shown) for v in value], len(value)
        if value not in (None, ""):
            return _fresh_id(value, rng, shown), 1
    if isinstance(value, dict):
        out, total = {}, 0
        for k, v in value.items():
            out[k], n = invent_ids(v, rng, shown, k)
            total += n
        return out, total
    if isinstance(value, list):
        pairs = [invent_ids(v, rng, shown, "") for v in value]
        return [p[0] for p in pairs], sum(p[1] for p in pairs)
    if hasattr(value, "model_dump"):
        return invent_ids(value.model_dump(mode="json"), rng, shown, key)
    return value, 0


def drop_variable(text: str, rng: random.Random) -> tuple[str, str | None]:
    """Remove every occurrence of one template variable (``{x}`` or ``{{x}}``) from ``text``."""
    names = find_variables(text)
    if not names:
        return text, None
    name = rng.choice(names)
    pattern = r"\{\{\s*" + re.escape(name) + r"\s*\}\}|(?<!\{)\{" + re.escape(name) + r"\}(?!\})"
    return re.sub(pattern, "", text), name


class FaultyEngine(OfflineEngine):
    """Wraps another :class:`OfflineEngine`; see the module docstring. Stand-in, not a model."""

    def __init__(self, base: OfflineEngine, *, rate: float = 0.2, kinds: tuple[str, ...] = FAULT_KINDS,
                 seed: int = 0, timeout_after: float = 0.0, retry_after: float = 0.0, **kwargs: Any):
        unknown = [k for k in kinds if k not in FAULT_KINDS]
        if unknown or not kinds:
            raise ValueError(f"unknown fault kind(s) {unknown or kinds}; choose from {', '.join(FAULT_KINDS)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be in [0, 1], got {rate}")
        kwargs.setdefault("latency", base.latency)
        super().__init__(seed=seed, **kwargs)
        self.base = base
        self.rate = rate
        self.kinds = tuple(kinds)
        self.timeout_after = timeout_after  # seconds to wait before a timeout fault raises
        self.retry_after = retry_after      # the hint DSPy waits for before retrying
        self.faults: list[FaultRecord] = []
        self.log: list[tuple[int, str | None]] = []  # every call: (number, fault kind or None)
        self._seen: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"FaultyEngine({self.base!r}, rate={self.rate}, kinds={self.kinds})"

    @property
    def requests(self) -> list[ParsedCall]:
        return getattr(self.base, "requests", [])

    def counts(self) -> dict[str, int]:
        """How many faults of each kind were injected so far."""
        return dict(Counter(f.kind for f in self.faults))

    # -- deciding ------------------------------------------------------------------------------
    def _rng(self, messages: list[dict[str, str]]) -> random.Random:
        key = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
        with self._lock:
            self._seen[key] += 1
            nth = self._seen[key]
        return random.Random(f"{self.seed}:{key}:{nth}")

    def _applicable(self, call: ParsedCall, outputs: Any) -> list[str]:
        kinds = [k for k in self.kinds if k in (*_RAISING, "malformed")]
        if "missing_field" in self.kinds and isinstance(outputs, dict) and outputs:
            kinds.append("missing_field")
        if "invented_id" in self.kinds and invent_ids(outputs, random.Random(0), "")[1]:
            kinds.append("invented_id")
        if "dropped_variable" in self.kinds and any(
                isinstance(v, str) and find_variables(v)
                for v in (outputs.values() if isinstance(outputs, dict) else [outputs])):
            kinds.append("dropped_variable")
        return kinds

    def _record(self, call: ParsedCall, kind: str | None, detail: str = "") -> None:
        with self._lock:
            number = len(self.log) + 1
            self.log.append((number, kind))
            if kind is not None:
                self.faults.append(FaultRecord(number, kind, call.signature_key, detail))

    # -- answering -----------------------------------------------------------------------------
    def answer(self, call: ParsedCall) -> dict[str, Any] | str:
        return self.base.answer(call)

    def render(self, messages: list[dict[str, str]]) -> str:
        rng = self._rng(messages)
        call = parse_request(messages)
        faulty = rng.random() < self.rate
        outputs = self.base.answer(call)
        choices = self._applicable(call, outputs) if faulty else []
        if not choices:
            self._record(call, None)
            return outputs if isinstance(outputs, str) else format_outputs(call, outputs)
        kind = rng.choice(choices)
        return self._inject(kind, call, outputs, rng, messages)

    def _inject(self, kind: str, call: ParsedCall, outputs: Any, rng: random.Random,
                messages: list[dict[str, str]]) -> str:
        from dspy import lm15

        if kind == "exception":
            server = rng.random() < 0.5
            detail = "server error 503" if server else "rate limit 429"
            self._record(call, kind, detail)
            error = lm15.ServerError if server else lm15.RateLimitError
            raise error(f"offline fault injection: simulated provider failure ({detail})",
                        provider="offline", status=503 if server else 429, retry_after=self.retry_after)
        if kind == "timeout":
            self._record(call, kind, f"after {self.timeout_after}s")
            if self.timeout_after:
                time.sleep(self.timeout_after)
            raise lm15.TimeoutError("offline fault injection: simulated request timeout", provider="offline",
                                    status=408, retry_after=self.retry_after)
        text = outputs if isinstance(outputs, str) else format_outputs(call, outputs)
        if kind == "malformed":
            self._record(call, kind, "unparseable text")
            # Prose with neither field markers nor a JSON object: what a model does when it
            # ignores the format. (Cut-off JSON is no good here: DSPy repairs it.)
            body = re.sub(r"\[\[ ## \w+ ## \]\]\n?|[{}\[\]\"]", "", text)
            return "Sure! Here is what I found: " + " ".join(body.split()[:25])
        if kind == "missing_field":
            names = [n for n in outputs if n != "reasoning"] or list(outputs)
            dropped = rng.choice(names)
            self._record(call, kind, dropped)
            return format_outputs(call, {k: v for k, v in outputs.items() if k != dropped})
        if kind == "invented_id":
            shown = "\n".join(m["content"] for m in messages)
            changed, n = invent_ids(outputs, rng, shown)
            self._record(call, kind, f"{n} id(s) replaced")
            return changed if isinstance(changed, str) else format_outputs(call, changed)
        # dropped_variable
        if isinstance(outputs, str):
            changed_text, name = drop_variable(outputs, rng)
            self._record(call, kind, f"dropped {{{name}}}")
            return changed_text
        fields = [k for k, v in outputs.items() if isinstance(v, str) and find_variables(v)]
        field = rng.choice(fields)
        new_value, name = drop_variable(outputs[field], rng)
        self._record(call, kind, f"dropped {{{name}}} from {field}")
        return format_outputs(call, {**outputs, field: new_value})


def faulty_lm(base: Any, *, rate: float = 0.2, kinds: tuple[str, ...] = FAULT_KINDS, seed: int = 0,
              num_retries: int = 0, name: str | None = None, **kwargs: Any):
    """An offline ``dspy.LM`` that injects faults into ``base`` (an offline engine or offline LM).

        lm = faulty_lm(simulated_lm(), rate=1.0, kinds=("timeout",), num_retries=2)
        # every attempt times out: DSPy retries twice, then raises LMTimeoutError
    """
    engine = getattr(base, "engine", base)
    if not isinstance(engine, OfflineEngine):
        raise TypeError("faulty_lm wraps an offline engine or an offline dspy.LM from engram.testing, "
                        f"got {type(base).__name__}")
    label = name or (getattr(base, "model", "offline/stand-in") + "+faults")
    faulty = FaultyEngine(engine, rate=rate, kinds=kinds, seed=seed, **kwargs)
    lm = make_lm(faulty, label)
    lm.num_retries = num_retries
    return lm
