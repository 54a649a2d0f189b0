"""ReflectionExecutor: debounce replace-and-merge, never cancelling running work, flush, shutdown, errors.

No timing thresholds: a fake clock and events decide what happens when.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading

import dspy
import pytest

from engram.errors import EngramError
from engram.modules._manager import MemoryManager
from engram.modules._reflection import ReflectionExecutor, merge_messages
from engram.testing._scripted import scripted_lm
from engram.trajectories import Message
from tests.modules.conftest import ops

WAIT = 30  # a safety bound for future.result(), never a behaviour threshold


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def msg(text, role="user"):
    return {"role": role, "content": text}


class Recorder:
    def __init__(self):
        self.calls: list[tuple[list[str], dict]] = []
        self.lock = threading.Lock()

    def __call__(self, messages, values):
        with self.lock:
            self.calls.append(([m.content for m in messages], values))
        return len(messages)


def test_merge_messages_handles_growing_and_incremental_histories():
    a, b, c = (Message(role="user", content=x) for x in "abc")
    assert merge_messages([a, b], [a, b, c]) == [a, b, c]
    assert merge_messages([a], [b, c]) == [a, b, c]
    assert merge_messages([a, a], [a, b]) == [a, a, b]


def test_newer_submission_replaces_pending_and_merges_messages():
    clock, rec = FakeClock(), Recorder()
    executor = ReflectionExecutor(rec, clock=clock)
    first = executor.submit([msg("I live in Porto")], thread_id="t1", values={"user_id": "u1"}, after_seconds=60)
    second = executor.submit([msg("Now I moved to Lisbon")], thread_id="t1", after_seconds=60)
    other = executor.submit([msg("unrelated")], thread_id="t2", after_seconds=60)
    assert executor.pending() == {"t1": 2, "t2": 1}
    assert rec.calls == []  # nothing is due yet
    clock.now = 61
    executor.poke()
    assert second.result(WAIT) == 2 and first.result(WAIT) == 2 and other.result(WAIT) == 1
    t1 = [c for c in rec.calls if "unrelated" not in c[0]]
    assert t1 == [(["I live in Porto", "Now I moved to Lisbon"], {"user_id": "u1"})]
    executor.shutdown()


def test_running_task_is_never_cancelled_and_later_work_waits_for_it():
    started, release = threading.Event(), threading.Event()
    seen = []

    def slow(messages, values):
        seen.append([m.content for m in messages])
        if len(seen) == 1:
            started.set()
            release.wait(WAIT)
        return len(seen)

    executor = ReflectionExecutor(slow, clock=FakeClock())
    first = executor.submit([msg("one")], thread_id="t")
    assert started.wait(WAIT)
    second = executor.submit([msg("one"), msg("two")], thread_id="t", after_seconds=0)
    assert not first.done() and executor.pending() == {"t": 2}
    release.set()
    assert first.result(WAIT) == 1  # completed, not cancelled
    executor.flush()
    assert second.result(WAIT) == 2
    assert seen == [["one"], ["one", "two"]]
    executor.shutdown()


def test_flush_runs_pending_work_now():
    rec = Recorder()
    executor = ReflectionExecutor(rec, clock=FakeClock())
    future = executor.submit([msg("hello")], thread_id="t", after_seconds=3600)
    executor.flush()
    assert future.done() and rec.calls == [(["hello"], {})]
    executor.shutdown()


def test_shutdown_runs_or_cancels_pending_and_refuses_new_work():
    rec = Recorder()
    executor = ReflectionExecutor(rec, clock=FakeClock())
    kept = executor.submit([msg("kept")], thread_id="a", after_seconds=3600)
    executor.shutdown(wait=True)
    assert kept.result(0) == 1
    with pytest.raises(EngramError, match="shut down"):
        executor.submit([msg("late")])

    other = ReflectionExecutor(rec, clock=FakeClock())
    dropped = other.submit([msg("dropped")], thread_id="b", after_seconds=3600)
    other.shutdown(wait=True, cancel_pending=True)
    assert dropped.cancelled() and all("dropped" not in c[0] for c in rec.calls)


def test_errors_reach_the_caller_and_the_log(caplog):
    def broken(messages, values):
        raise ValueError("store unavailable")

    executor = ReflectionExecutor(broken, clock=FakeClock())
    with caplog.at_level(logging.ERROR, logger="engram.modules.reflection"):
        future = executor.submit([msg("x")], thread_id="t")
        with pytest.raises(ValueError, match="store unavailable"):
            future.result(WAIT)
        executor.flush()
    assert any("store unavailable" in r.getMessage() for r in caplog.records)
    executor.shutdown()


def test_with_a_memory_manager_and_the_callers_lm(store):
    lm = scripted_lm({"ops": ops({"op": "insert", "content": "Lives in Lisbon", "quote": "moved to Lisbon"})})
    manager = MemoryManager(store, ("memories", "{user_id}"))
    # the LM in force at submit time is used in the background
    with dspy.context(lm=lm), ReflectionExecutor(manager, clock=FakeClock()) as executor:
        future = executor.submit([msg("I moved to Lisbon")], thread_id="t", values={"user_id": "u1"},
                                 after_seconds=10)
    assert [r.text for r in future.result(0).written] == ["Lives in Lisbon"]
    assert [r.text for r in store.list(("memories", "u1"))] == ["Lives in Lisbon"]


@pytest.mark.parametrize("bad", [float("inf"), 1e10, float("nan"), -1, -0.5, True, "5", None,
                                 float("-inf"), 8 * 24 * 3600])
def test_bad_delays_are_refused_at_submit_and_the_scheduler_survives(bad):
    rec = Recorder()
    executor = ReflectionExecutor(rec, clock=FakeClock())
    with pytest.raises(EngramError, match="after_seconds"):
        executor.submit([msg("x")], thread_id="bad", after_seconds=bad)
    assert executor.pending() == {}  # nothing was scheduled
    # the scheduler still serves everyone else
    assert executor.submit([msg("fine")], thread_id="ok").result(WAIT) == 1
    assert executor._scheduler.is_alive()
    executor.shutdown()


def _exit_script(body: str) -> str:
    return textwrap.dedent("""
        import sys
        from engram.modules._reflection import ReflectionExecutor

        OUT = sys.argv[1]

        def record(messages, values):
            with open(OUT, "a") as fh:
                fh.write(messages[0].content + "\\n")
            return 1
    """) + textwrap.dedent(body)


def _run(script: str, out) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True,
                          timeout=120, env=env, check=False)


def test_shutdown_without_wait_then_exit_still_runs_pending_work(tmp_path):
    out = tmp_path / "done.txt"
    proc = _run(_exit_script("""
        ex = ReflectionExecutor(record)
        for i in range(6):
            ex.submit([{"role": "user", "content": f"m{i}"}], thread_id=f"t{i}", after_seconds=30)
        ex.shutdown(wait=False)
    """), out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(out.read_text().split()) == [f"m{i}" for i in range(6)]
    assert "DROPPED" not in proc.stderr


def test_exit_with_work_it_cannot_run_in_time_says_how_much_was_dropped(tmp_path):
    out = tmp_path / "done.txt"
    proc = _run(_exit_script("""
        ex = ReflectionExecutor(record, exit_timeout=0)
        for i in range(3):
            ex.submit([{"role": "user", "content": f"m{i}"}], thread_id=f"t{i}", after_seconds=600)
    """), out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not out.exists()
    assert "3 pending submission(s) were DROPPED" in proc.stderr and "exit_timeout" in proc.stderr
