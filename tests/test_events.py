"""events.SpanOnCall: the one wrapper that puts a module's whole call (sync or async) in a span."""

from __future__ import annotations

import asyncio
from contextlib import nullcontext

import dspy

import engram.events as events


class Doubler(events.SpanOnCall, dspy.Module):
    def _span(self, args, kwargs):
        return events.span("optimization", f"double:{args[0]}")

    def forward(self, x: int) -> int:
        return 2 * x

    async def aforward(self, x: int) -> int:
        return 3 * x


def test_sync_and_async_calls_run_inside_one_span_with_their_result():
    seen = []

    def listener(span):
        seen.append(span)
        return nullcontext()

    events.add_listener(listener)
    try:
        assert Doubler()(4) == 8
        assert asyncio.run(Doubler().acall(5)) == 15
    finally:
        events.remove_listener(listener)
    assert [(s.name, s.result) for s in seen] == [("double:4", 8), ("double:5", 15)]
    assert Doubler()(1) == 2 and len(seen) == 2  # no listener: the call still works, nothing recorded


def test_the_optimizers_share_the_wrapper():
    from engram.optimizers import MultiPromptOptimizer, PromptOptimizerBase

    for cls in (PromptOptimizerBase, MultiPromptOptimizer):
        assert issubclass(cls, events.SpanOnCall) and "__call__" not in vars(cls) and "acall" not in vars(cls)
