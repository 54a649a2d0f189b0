"""The base of every offline stand-in: a DSPy 3.4 engine that answers in-process.

Subclasses implement :meth:`OfflineEngine.answer` (a :class:`ParsedCall` in, output field
values out). The engine plugs into ``dspy.LM(name, engine=...)``, so calls go through
DSPy's real adapter, cache, history, callbacks and usage tracking; tokens are counted
with ``litellm.token_counter`` (cl100k), as the cost benchmarks count them.

    lm = make_lm(MyEngine(), "offline/mine")   # stand-in, labeled "offline/" everywhere
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from engram._tokens import count_chat_tokens, count_text_tokens
from engram.testing._protocol import ParsedCall, format_outputs, parse_request

STAND_IN_NOTICE = "offline stand-in LM (engram.testing), not a real model"


def count_tokens(messages: list[dict[str, str]] | None = None, text: str | None = None) -> int:
    """cl100k token count, the way ``litellm.token_counter`` counts chat messages (without
    importing LiteLLM: see :mod:`engram._tokens`)."""
    if messages is not None:
        return count_chat_tokens(messages)
    return count_text_tokens(text or "")


def request_to_messages(request: Any) -> list[dict[str, str]]:
    """OpenAI-style messages from a ``dspy.lm15.Request``."""
    messages: list[dict[str, str]] = []
    system = request.system
    if system is not None:
        text = system if isinstance(system, str) else "".join(getattr(p, "text", "") for p in system)
        messages.append({"role": "system", "content": text})
    for message in request.messages:
        messages.append({"role": message.role, "content": message.text or ""})
    return messages


class OfflineEngine:
    """A deterministic in-process engine. Thread-safe: ``calls`` is guarded by a lock."""

    #: shown in ``repr`` and in docs: these are stand-ins, not models
    label = STAND_IN_NOTICE

    def __init__(self, *, latency: float | tuple[float, float] = 0.0, seed: int = 0):
        self.latency = latency
        self.seed = seed
        self.calls = 0
        #: calls being answered right now, and the most there ever were at once: lets tests
        #: and benchmarks see whether callers really overlapped, without timing anything
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label})"

    # -- to implement ---------------------------------------------------------------------
    def answer(self, call: ParsedCall) -> dict[str, Any] | str:
        """Output field values for a parsed call (or raw text, sent as is)."""
        raise NotImplementedError

    # -- engine protocol ---------------------------------------------------------------------
    def render(self, messages: list[dict[str, str]]) -> str:
        call = parse_request(messages)
        outputs = self.answer(call)
        return outputs if isinstance(outputs, str) else format_outputs(call, outputs)

    def delay_for(self, call_index: int) -> float:
        """The latency of the ``call_index``-th call (1-based): fixed, or seeded uniform in a range."""
        return self._delay(call_index)

    def _delay(self, call_index: int) -> float:
        if isinstance(self.latency, tuple):
            import random

            low, high = self.latency
            return random.Random(self.seed * 1_000_003 + call_index).uniform(low, high)
        return float(self.latency)

    def _next_index(self) -> int:
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.calls

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    # ``latency`` is the wall time of a call, as a remote model's is: its own work (parsing the
    # request, answering, counting tokens) happens inside that time, the way a server's does,
    # not on top of it; otherwise every call would cost the caller L plus the stand-in's CPU.
    @staticmethod
    def _remaining(delay: float, started: float) -> float:
        return delay - (time.perf_counter() - started)

    @classmethod
    def _wait(cls, delay: float, started: float) -> None:
        remaining = cls._remaining(delay, started)
        if remaining > 0:
            time.sleep(remaining)

    def complete(self, request: Any) -> Any:
        index = self._next_index()
        try:
            started = time.perf_counter()
            response = self._respond(request)
            self._wait(self._delay(index), started)
            return response
        finally:
            self._done()

    def chat(self, messages: list[dict[str, str]]) -> tuple[str, int, int]:
        """Answer OpenAI-style messages outside DSPy (the HTTP server): (text, prompt tokens, completion tokens).

        Same latency, in-flight accounting and answers as a call through ``dspy.LM``.
        """
        index = self._next_index()
        try:
            started = time.perf_counter()
            text = self.render(messages)
            answer = text, count_tokens(messages), count_tokens(text=text)
            self._wait(self._delay(index), started)
            return answer
        finally:
            self._done()

    async def acomplete(self, request: Any) -> Any:
        index = self._next_index()
        try:
            started = time.perf_counter()
            response = self._respond(request)
            remaining = self._remaining(self._delay(index), started)
            if remaining > 0:
                await asyncio.sleep(remaining)
            return response
        finally:
            self._done()

    def _respond(self, request: Any) -> Any:
        from dspy.lm15 import Message, Response, TextPart, Usage

        messages = request_to_messages(request)
        text = self.render(messages)
        usage = Usage(input_tokens=count_tokens(messages), output_tokens=count_tokens(text=text))
        return Response(id=None, model=type(self).__name__, message=Message.assistant([TextPart(text)]),
                        finish_reason="stop", usage=usage)

    def stream(self, request: Any):
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        pass


class AsyncOfflineEngine:
    """The async face of an :class:`OfflineEngine` (latency uses ``asyncio.sleep``)."""

    def __init__(self, sync: OfflineEngine):
        self.sync = sync

    async def complete(self, request: Any) -> Any:
        return await self.sync.acomplete(request)

    async def stream(self, request: Any):
        from dspy.lm15 import response_to_events

        for event in response_to_events(await self.complete(request)):
            yield event

    async def aclose(self) -> None:
        pass


def make_lm(engine: OfflineEngine, name: str = "offline/stand-in", *, cache: bool = False, **kwargs: Any):
    """A ``dspy.LM`` backed by an offline engine (sync and async). The name should start with ``offline/``."""
    import dspy

    if not name.startswith("offline/"):
        name = "offline/" + name
    return dspy.LM(name, engine=engine, async_engine=AsyncOfflineEngine(engine), cache=cache,
                   num_retries=0, **kwargs)
