"""ReflectionExecutor: process conversations in the background, debounced per thread.

    executor = ReflectionExecutor(manager)                 # a MemoryManager or fn(messages, values)
    future = executor.submit(messages, thread_id="t1", values={"user_id": "u1"}, after_seconds=30)
    ...
    executor.flush()                                       # run everything pending now, wait
    executor.shutdown(wait=True)

Per thread (LangMem issue #11 fixed):

- a newer submission for a thread whose work is still *pending* replaces it, and the
  pending messages are **merged** into the new ones, not lost (a growing history is
  recognised by its overlap, so nothing is repeated); the due time moves to the new
  ``after_seconds``; every replaced submission's future resolves with the merged result;
- a task that has *started* is never cancelled; a submission arriving meanwhile waits
  until it finishes;
- errors reach the caller through the future, and are logged.

``clock`` (a function returning seconds) can be replaced in tests; call :meth:`poke`
after moving a fake clock so the scheduler looks again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Self

from engram.errors import EngramError, ValidationError
from engram.trajectories import Message
from engram.trajectories import coerce_messages

log = logging.getLogger("engram.reflection")


@dataclass
class _Pending:
    messages: list[Message]
    values: dict[str, Any]
    due: float
    runner: Callable[..., Any]
    futures: list[Future] = field(default_factory=list)


def merge_messages(old: list[Message], new: list[Message]) -> list[Message]:
    """``old`` followed by what ``new`` adds: the longest suffix of ``old`` that starts ``new``
    is counted once, so both growing histories and incremental batches merge without loss."""
    for overlap in range(min(len(old), len(new)), 0, -1):
        if old[len(old) - overlap:] == new[:overlap]:
            return [*old, *new[overlap:]]
    return [*old, *new]


class ReflectionExecutor:
    """Debounced background processing (see the module docstring).

    Args:
        processor: a :class:`~engram.modules._manager.MemoryManager` (its ``update`` is called)
            or any ``fn(messages, values)``.
        max_workers: threads processing different threads' work in parallel.
        clock: seconds now (default ``time.monotonic``).
    """

    def __init__(self, processor: Any, *, max_workers: int = 2, clock: Callable[[], float] = time.monotonic):
        if hasattr(processor, "update") and callable(processor.update):
            manager = processor
            self._process = lambda messages, values: manager.update(messages, values)
        elif callable(processor):
            self._process = processor
        else:
            raise ValidationError("processor must be a MemoryManager or a function fn(messages, values).")
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="engram-reflection")
        self._cond = threading.Condition()
        self._pending: dict[str, _Pending] = {}
        self._running: set[str] = set()
        self._inflight: set[Future] = set()
        self._closed = False
        self._scheduler = threading.Thread(target=self._loop, name="engram-reflection-scheduler", daemon=True)
        self._scheduler.start()

    # -- public API -----------------------------------------------------------------------------
    def submit(self, messages: Any, *, thread_id: str | None = None, values: dict[str, Any] | None = None,
               after_seconds: float = 0.0) -> Future:
        """Schedule ``messages`` of a thread for processing ``after_seconds`` from now."""
        from engram.lm import context_runner

        if after_seconds < 0:
            raise ValidationError(f"after_seconds must be >= 0, got {after_seconds}")
        msgs = coerce_messages(messages)
        values = dict(values or {})
        key = thread_id or values.get("thread_id") or "default"
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise EngramError("this ReflectionExecutor is shut down; create a new one.")
            previous = self._pending.pop(key, None)
            if previous is not None:  # replace the pending work, keeping its messages and callers
                msgs = merge_messages(previous.messages, msgs)
                values = {**previous.values, **values}
            # the caller's DSPy context (LM, usage tracking) travels with the work
            work = _Pending(msgs, values, self._clock() + after_seconds, context_runner(self._process),
                            [*(previous.futures if previous else []), future])
            self._pending[key] = work
            self._cond.notify_all()
        return future

    def poke(self) -> None:
        """Make the scheduler look at the clock again (after moving a fake clock)."""
        with self._cond:
            self._cond.notify_all()

    def pending(self) -> dict[str, int]:
        """Threads with pending work and how many messages each holds."""
        with self._cond:
            return {k: len(p.messages) for k, p in self._pending.items()}

    def flush(self, timeout: float | None = None) -> None:
        """Run all pending work now and wait until everything submitted so far is done."""
        with self._cond:
            for work in self._pending.values():
                work.due = float("-inf")
            self._cond.notify_all()
            waiting = [f for w in self._pending.values() for f in w.futures] + list(self._inflight)
        for future in waiting:
            try:
                future.result(timeout)
            except Exception:  # noqa: BLE001, S110 - the error belongs to that future's caller
                pass

    def shutdown(self, wait: bool = True, *, cancel_pending: bool = False) -> None:
        """Stop accepting work. Pending work runs now (or is cancelled with ``cancel_pending``);
        running work is never interrupted. ``wait`` blocks until it has all finished."""
        with self._cond:
            self._closed = True
            if cancel_pending:
                for work in self._pending.values():
                    for future in work.futures:
                        future.cancel()
                self._pending.clear()
        if wait:
            self.flush()
        with self._cond:
            for work in self._pending.values():
                work.due = float("-inf")
            self._cond.notify_all()
        if wait:  # the scheduler exits once nothing is pending, then the pool drains
            self._scheduler.join()
            self._pool.shutdown(wait=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True)

    # -- scheduling -------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._closed and not self._pending:
                    self._pool.shutdown(wait=False)  # submitted work still completes
                    return
                now = self._clock()
                ready = [k for k, w in self._pending.items() if w.due <= now and k not in self._running]
                if not ready:
                    waits = [w.due - now for k, w in self._pending.items() if k not in self._running]
                    self._cond.wait(timeout=max(0.0, min(waits)) if waits else None)
                    continue
                for key in ready:
                    work = self._pending.pop(key)
                    self._running.add(key)
                    for future in work.futures:
                        self._inflight.add(future)
                    self._pool.submit(self._run, key, work)

    def _run(self, key: str, work: _Pending) -> None:
        futures = [f for f in work.futures if f.set_running_or_notify_cancel()]
        try:
            result = work.runner(work.messages, work.values)
        except BaseException as err:
            log.error("background processing of thread %r failed: %s", key, err, exc_info=err)
            for future in futures:
                future.set_exception(err)
        else:
            for future in futures:
                future.set_result(result)
        finally:
            with self._cond:
                self._running.discard(key)
                self._inflight.difference_update(work.futures)
                self._cond.notify_all()


__all__ = ["ReflectionExecutor", "merge_messages"]
