"""Latency of offline LMs: calls overlap across threads (sync) and tasks (async), not in sequence.

Asserts overlap through the engine's in-flight counter, never through wall-clock thresholds.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import dspy

from engram.lm import context_runner
from engram.testing._scripted import scripted_lm
from engram.testing._world import simulated_lm


def test_sequential_calls_never_overlap():
    lm = simulated_lm(latency=0.01)
    with dspy.context(lm=lm):
        for i in range(3):
            dspy.Predict("message -> response")(message=f"refund {i}")
    assert lm.engine.calls == 3 and lm.engine.max_in_flight == 1 and lm.engine.in_flight == 0


def test_sync_calls_in_threads_overlap_while_sleeping():
    lm = simulated_lm(latency=0.3)
    predict = dspy.Predict("message -> response")

    def ask(i):
        return predict(message=f"my package {i} is late").response

    with dspy.context(lm=lm), ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(context_runner(ask), range(4)))
    assert len(answers) == 4 and all("tracking page" in a for a in answers)
    assert lm.engine.max_in_flight > 1  # the sleeps ran side by side
    assert lm.engine.in_flight == 0


def test_async_calls_overlap_on_one_event_loop():
    lm = scripted_lm({"answer": "ok"}, latency=0.05)
    predict = dspy.Predict("question -> answer")

    async def main():
        with dspy.context(lm=lm):
            return await asyncio.gather(*(predict.acall(question=f"q{i}") for i in range(5)))

    results = asyncio.run(main())
    assert [r.answer for r in results] == ["ok"] * 5
    # asyncio.sleep yields: all five were in flight at once on a single thread
    assert lm.engine.max_in_flight == 5


def test_random_latency_is_seeded_and_in_range():
    a = simulated_lm(latency=(0.01, 0.05)).engine
    b = simulated_lm(latency=(0.01, 0.05)).engine
    delays = [a.delay_for(i) for i in range(1, 20)]
    assert delays == [b.delay_for(i) for i in range(1, 20)]
    assert all(0.01 <= d <= 0.05 for d in delays) and len(set(delays)) > 1
    assert simulated_lm(latency=0.2).engine.delay_for(7) == 0.2
