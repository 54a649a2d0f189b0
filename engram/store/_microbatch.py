"""Micro-batching: texts from concurrent callers share one forward pass of the embedder.

Thirty-two updates running at once each embed one or two texts. Run one by one, that is
thirty-two small forward passes queued behind the model's lock, each paying the model's
fixed cost per call. A :class:`MicroBatcher` hands every request to one worker thread,
which takes *everything* queued when it becomes free (optionally waiting ``window``
seconds for more) and runs it as one call. A blocking caller that finds nothing running
and nothing queued runs the call itself, in its own thread (no hand-off); under load, the
calls merge by themselves.

- Threads: ``batcher(texts)`` blocks the calling thread until its vectors are ready.
- asyncio: ``await batcher.acall(texts)`` waits on a future, so the event loop is never
  blocked by the model.
- A failing batch is retried request by request, so one caller's bad input fails only
  that caller.
- The worker thread starts on first use and ends after ``idle`` seconds without work;
  a forked child starts its own.
- ``cache=N`` (for a deterministic ``fn`` of hashable items, such as an embedder): the
  results of the last ``N`` distinct items are kept, a request whose items are all known
  is answered in the caller's thread, and an item that several queued requests share is
  computed once. Extracted memories repeat across users ("The user prefers email for
  contact."), so this saves real model calls, not only in benchmarks.

The default MiniLM embedders batch this way (``Embedder.microbatch``). Example::

    batcher = MicroBatcher(lambda texts: [[float(len(t))] for t in texts])
    batcher(["a", "bb"])                        # [[1.0], [2.0]]
    # in a coroutine: await batcher.acall(["ccc"])
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_Request = tuple[list[Any], "Future[list[T]]"]


class MicroBatcher(Generic[T]):
    """Run ``fn(items) -> one result per item`` for many concurrent callers at once.

    Items are usually texts to embed; the store also batches its ledger rows this way.

    Args:
        fn: the batched function (an embedder's model call); it is only ever called from
            the worker thread, one call at a time.
        max_batch: at most this many items per call of ``fn`` (whole requests are never split,
            so one larger request still goes in one call).
        window: seconds the worker waits for more requests after the first one arrives; 0
            (the default) merges whatever queued up while the previous call ran.
        idle: seconds without requests after which the worker thread exits.

    >>> batcher = MicroBatcher(lambda texts: [t.upper() for t in texts])
    >>> batcher(["a", "b"])
    ['A', 'B']
    >>> batcher.calls, batcher.items
    (1, 2)
    """

    def __init__(self, fn: Callable[[list[Any]], Sequence[T]], *, max_batch: int = 256,
                 window: float = 0.0, idle: float = 2.0, cache: int = 0,
                 freeze: Callable[[T], Any] | None = None, thaw: Callable[[Any], T] | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if cache < 0:
            raise ValueError(f"cache must be >= 0, got {cache}")
        self.fn, self.max_batch, self.window, self.idle = fn, max_batch, window, idle
        # cache: item -> frozen result (``freeze`` stores it compactly; ``thaw`` hands each caller
        # its own copy, so no caller can change what another one receives)
        self.cache_size = cache
        self._freeze = freeze or (lambda r: r)
        self._thaw = thaw or (lambda r: r)
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.hits = 0  # items answered from the cache
        self._queue: deque[_Request[T]] = deque()
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._busy = False  # fn is running (in the worker, or inline in a caller's thread)
        self._pid = os.getpid()
        self.calls = 0  # calls of fn, and items passed to it: what merging saved
        self.items = 0

    def forget(self) -> None:
        """Empty the cache (``cache=N``) and zero the counters (``calls``, ``items``, ``hits``)."""
        with self._cache_lock:
            self._cache.clear()
            self.hits = self.calls = self.items = 0

    def submit(self, texts: Sequence[Any]) -> Future[list[T]]:
        """Queue ``texts`` (the items); the future resolves to their results, in order."""
        return self._submit(texts, inline=False)

    def _submit(self, texts: Sequence[Any], inline: bool) -> Future[list[T]]:
        future: Future[list[T]] = Future()
        items = list(texts)
        if not items:
            future.set_result([])
            return future
        if self.cache_size:
            with self._cache_lock:
                known = [self._cache.get(item) for item in items]
                if all(k is not None for k in known):
                    for item in items:
                        self._cache.move_to_end(item)
                    self.hits += len(items)
                    future.set_result([self._thaw(k) for k in known])
                    return future
        with self._cond:
            if self._pid != os.getpid():  # a forked child: no call of the parent's is running here
                self._pid, self._worker, self._busy = os.getpid(), None, False
            # Nothing running and nothing queued: a blocking caller runs fn itself, sparing two
            # thread hand-offs (each one a wait for the GIL under load). Whoever arrives meanwhile
            # queues, and the worker takes them together once this call is done.
            inline = inline and not self._busy and not self._queue and self.window <= 0
            if inline:
                self._busy = True
            else:
                self._queue.append((items, future))
                self._ensure_worker()
                self._cond.notify()
                return future
        try:
            if future.set_running_or_notify_cancel():
                self._run([(items, future)])
        finally:
            self._idle()
        return future

    def _idle(self) -> None:
        with self._cond:
            self._busy = False
            if self._queue:
                self._ensure_worker()
                self._cond.notify()

    def __call__(self, texts: Sequence[Any]) -> list[T]:
        """The results for ``texts``, computed with whatever other callers queued meanwhile
        (in this thread when nothing else is running or waiting)."""
        return self._submit(texts, inline=True).result()

    async def acall(self, texts: Sequence[Any]) -> list[T]:
        """Async :meth:`__call__`: awaits the result without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(texts))

    def _ensure_worker(self) -> None:
        # under self._cond
        if self._pid != os.getpid():  # a forked child inherits no running thread
            self._pid, self._worker = os.getpid(), None
        if self._worker is None:
            self._worker = threading.Thread(target=self._loop, name="engram-microbatch", daemon=True)
            self._worker.start()

    def _take(self) -> list[_Request[T]] | None:
        """The next batch: whole requests up to ``max_batch`` items; None once idle."""
        with self._cond:
            deadline = time.monotonic() + self.idle
            while not self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._worker = None
                    return None
                self._cond.wait(remaining)
        if self.window > 0:
            time.sleep(self.window)
        with self._cond:
            batch: list[_Request[T]] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0][0]) <= self.max_batch):
                request = self._queue.popleft()
                batch.append(request)
                size += len(request[0])
            self._busy = True
            return batch

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            try:
                self._run([r for r in batch if r[1].set_running_or_notify_cancel()])
            finally:
                self._idle()

    def _run(self, batch: list[_Request[T]]) -> None:
        if not batch:
            return
        texts = [t for items, _ in batch for t in items]
        try:
            if self.cache_size:
                self._run_cached(batch, texts)
                return
            results = self._call(texts)
        except BaseException as err:  # noqa: BLE001 - handed to the callers
            if len(batch) == 1:
                batch[0][1].set_exception(err)
            else:  # someone's input broke the batch: retry alone, so only that caller fails
                for request in batch:
                    self._run([request])
            return
        start = 0
        for items, future in batch:
            future.set_result(results[start:start + len(items)])
            start += len(items)

    def _call(self, items: list[Any]) -> list[T]:
        """``fn`` on ``items``, checked to give one result per item, and counted."""
        results = list(self.fn(items))
        if len(results) != len(items):
            raise RuntimeError(f"the batched function returned {len(results)} results for {len(items)} texts")
        self.calls += 1
        self.items += len(items)
        return results

    def _run_cached(self, batch: list[_Request[T]], texts: list[Any]) -> None:
        """One call of ``fn`` for the distinct items of ``batch`` that the cache does not hold."""
        with self._cache_lock:
            table = {t: self._cache[t] for t in texts if t in self._cache}
        todo = [t for t in dict.fromkeys(texts) if t not in table]
        if todo:
            fresh = {t: self._freeze(r) for t, r in zip(todo, self._call(todo))}
            table.update(fresh)
            with self._cache_lock:
                self._cache.update(fresh)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        self.hits += len(texts) - len(todo)
        for items, future in batch:
            future.set_result([self._thaw(table[t]) for t in items])


__all__ = ["MicroBatcher"]
