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


class _Clock:
    """A stand-in for the ``time`` module inside the engine: the test decides how long things take."""

    def __init__(self) -> None:
        self.now, self.slept = 100.0, []

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_latency_is_a_calls_whole_time_with_the_stand_ins_own_work_inside_it(monkeypatch):
    # As with a remote model, whose latency includes its server's work: the stand-in parsing and
    # answering for 0.2 s sleeps 0.3 s of a 0.5 s latency, not 0.5 on top of its work.
    clock = _Clock()
    monkeypatch.setattr("engram.testing._engine.time", clock)

    def answer(call):
        clock.now += 0.2
        return {"answer": "ok"}

    predict = dspy.Predict("question -> answer")
    with dspy.context(lm=scripted_lm(answer, latency=0.5)):
        assert predict(question="q").answer == "ok"
    with dspy.context(lm=scripted_lm(answer, latency=0.1)):  # work longer than the latency: no sleep on top
        assert predict(question="q").answer == "ok"
    engine = scripted_lm(answer, latency=0.5).engine          # the HTTP server's path
    assert engine.chat([{"role": "user", "content": "hi"}])[0]
    assert clock.slept == [0.3, 0.3]


def test_async_latency_also_counts_the_stand_ins_work(monkeypatch):
    clock, waited = _Clock(), []
    monkeypatch.setattr("engram.testing._engine.time", clock)

    async def fake_sleep(seconds):
        waited.append(round(seconds, 6))

    monkeypatch.setattr("engram.testing._engine.asyncio.sleep", fake_sleep)

    def answer(call):
        clock.now += 0.2
        return {"answer": "ok"}

    async def main():
        with dspy.context(lm=scripted_lm(answer, latency=0.5)):
            return await dspy.Predict("question -> answer").acall(question="q")

    assert asyncio.run(main()).answer == "ok" and waited == [0.3]
