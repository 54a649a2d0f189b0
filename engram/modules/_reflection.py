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

Delays are checked at submit: ``after_seconds`` must be a finite number between 0 and
:data:`MAX_DELAY` (a week), so no value can overflow or busy-loop the scheduler.

Nothing pending is dropped silently at exit: an ``atexit`` hook runs the work still
pending in every live executor (including after ``shutdown(wait=False)``), for at most
``exit_timeout`` seconds, and logs an error naming what it could not run.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Self

from engram.errors import EngramError, ValidationError
from engram.trajectories import Message, coerce_messages

log = logging.getLogger("engram.modules.reflection")

#: The longest ``after_seconds`` accepted: a debounce delay, not a cron schedule.
MAX_DELAY = 7 * 24 * 3600.0
_LIVE: weakref.WeakSet[ReflectionExecutor] = weakref.WeakSet()


def check_delay(after_seconds: Any) -> float:
    """``after_seconds`` as a float, or a :class:`ValidationError` saying what is accepted."""
    if isinstance(after_seconds, bool) or not isinstance(after_seconds, (int, float)):
        raise ValidationError(f"after_seconds must be a number of seconds, got "
                              f"{type(after_seconds).__name__} {after_seconds!r}.")
    delay = float(after_seconds)
    if not math.isfinite(delay) or not 0.0 <= delay <= MAX_DELAY:
        raise ValidationError(
            f"after_seconds must be a finite number from 0 to {MAX_DELAY:g} (one week), got "
            f"{after_seconds!r}; schedule longer waits outside the executor.")
    return delay


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
        exit_timeout: at interpreter exit, how long pending work may still run (seconds).
    """

    def __init__(self, processor: Any, *, store: Any = None, max_workers: int = 2,
                 clock: Callable[[], float] = time.monotonic, exit_timeout: float = 60.0):
        if store is not None:  # LangMem's ReflectionExecutor(manager, store=store)
            _give_store(processor, store)
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
        self._exiting = False
        self.exit_timeout = check_delay(exit_timeout)
        _LIVE.add(self)
        self._scheduler = threading.Thread(target=self._loop, name="engram-reflection-scheduler", daemon=True)
        self._scheduler.start()

    # -- public API -----------------------------------------------------------------------------
    def submit(self, messages: Any, *, thread_id: str | None = None, values: dict[str, Any] | None = None,
               after_seconds: float = 0.0, config: dict[str, Any] | None = None) -> Future:
        """Schedule ``messages`` of a thread for processing ``after_seconds`` from now.

        LangMem's call shape works too: ``submit({"messages": [...]}, config={"configurable":
        {"user_id": ..., "thread_id": ...}}, after_seconds=...)``; ``configurable`` values fill
        the namespace template like ``values`` (which win where both name a key).
        """
        from engram.lm import context_runner
        from engram.modules._langmem import config_values, read_input

        after_seconds = check_delay(after_seconds)
        if isinstance(messages, dict):
            messages = read_input(messages, what="ReflectionExecutor.submit")["messages"]
        msgs = coerce_messages(messages)
        values = {**config_values(config), **(values or {})}
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
            try:
                if not self._step():
                    return
            except Exception as err:
                log.error("reflection scheduler step failed (it keeps running): %s", err, exc_info=err)
                time.sleep(0.05)

    def _step(self) -> bool:
        """One scheduling pass; False when the scheduler should stop."""
        with self._cond:
            if self._exiting or (self._closed and not self._pending):
                self._pool.shutdown(wait=False)  # submitted work still completes
                return False
            now = self._clock()
            ready = [k for k, w in self._pending.items() if w.due <= now and k not in self._running]
            if not ready:
                waits = [w.due - now for k, w in self._pending.items() if k not in self._running]
                # bounded: a clock jump or a huge due time can never overflow Condition.wait
                timeout = min(max(0.0, min(waits)), 3600.0) if waits else None
                self._cond.wait(timeout=timeout)
                return True
            for key in ready:
                work = self._pending.pop(key)
                try:
                    self._pool.submit(self._run, key, work)
                except RuntimeError:  # the interpreter is exiting: the atexit hook runs it instead
                    self._pending[key] = work
                    self._exiting = True
                    return False
                self._running.add(key)
                self._inflight.update(work.futures)
            return True

    def _drain_at_exit(self) -> None:
        """Run what is still pending in this thread, within ``exit_timeout``; say what was dropped."""
        deadline = time.monotonic() + self.exit_timeout
        with self._cond:
            self._exiting = True
            self._cond.notify_all()
        self._scheduler.join(timeout=1.0)
        while True:
            with self._cond:
                key = next((k for k in self._pending if k not in self._running), None)
                if key is None or time.monotonic() >= deadline:
                    break
                work = self._pending.pop(key)
                self._running.add(key)
                self._inflight.update(work.futures)
            self._run(key, work)
        for future in list(self._inflight):
            try:
                future.result(max(0.0, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001, S110 - errors were logged by _run
                pass
        with self._cond:
            dropped = {k: len(w.messages) for k, w in self._pending.items()}
            running = len([f for f in self._inflight if not f.done()])
            for work in self._pending.values():
                for future in work.futures:
                    future.cancel()
            self._pending.clear()
        if dropped or running:
            log.error(
                "engram ReflectionExecutor: at exit %d pending submission(s) were DROPPED (threads %s) "
                "and %d still running after exit_timeout=%gs. Call executor.flush() or "
                "shutdown(wait=True) before exiting, or raise exit_timeout.",
                len(dropped), sorted(dropped), running, self.exit_timeout)

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


def _give_store(processor: Any, store: Any) -> None:
    """The manager's store, from LangMem's ``store=``: set when it has none, refused when it differs."""
    if not hasattr(store, "put_many"):
        raise ValidationError(f"store must be an engram MemoryStore, got {type(store).__name__}; use "
                              "engram.store.MemoryStore.in_memory() or .persistent().")
    current = getattr(processor, "_store", None)
    if current is None and hasattr(processor, "_store"):
        processor._store = store
    elif current is not store:
        raise ValidationError("the manager already has another store (or is not a MemoryManager); pass the store "
                              "to create_memory_store_manager(store=...) and leave store= out here.")


@atexit.register
def _drain_all_at_exit() -> None:
    for executor in list(_LIVE):
        if executor._pending or executor._inflight:
            executor._drain_at_exit()


__all__ = ["MAX_DELAY", "ReflectionExecutor", "check_delay", "merge_messages"]
