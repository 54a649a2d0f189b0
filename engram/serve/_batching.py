"""Opportunistic batching of embeddings across concurrent requests.

A server embeds one query per search request; with several requests in flight, embedding
them one by one wastes most of the model's time on per-call overhead. Here the first
caller embeds what is queued; everyone arriving meanwhile waits and is embedded together
in the next call. Nothing waits for a batch to fill, so a lone request pays nothing::

    embedder = BatchingEmbedder(get_embedder())   # same spec: Chroma sees the same model
    embedder.embed(["which language?"])
"""

from __future__ import annotations

import threading
from typing import Any

from engram.store import Embedder


class _Ticket:
    __slots__ = ("done", "error", "texts", "vectors")

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.vectors: list[list[float]] = []
        self.error: BaseException | None = None
        self.done = threading.Event()


class BatchingEmbedder(Embedder):
    """Wraps an :class:`~engram.store.Embedder`; same ``spec``, vectors and results."""

    def __init__(self, inner: Embedder, max_batch: int = 64):
        self.inner, self.max_batch = inner, max_batch
        self.spec = inner.spec
        self.batch_size = inner.batch_size
        self._lock = threading.Lock()
        self._queue: list[_Ticket] = []
        self._busy = False

    def __getattr__(self, name: str) -> Any:  # anything else (dimension, name) is the inner one's
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _embed_all(self, texts: list[str]) -> list[list[float]]:
        if len(texts) >= self.max_batch:  # already a batch (writes of many memories)
            return self.inner.embed(texts)
        ticket = _Ticket(texts)
        with self._lock:
            self._queue.append(ticket)
            lead = not self._busy
            if lead:
                self._busy = True
        if lead:
            self._drain()
        ticket.done.wait()
        if ticket.error is not None:
            raise ticket.error
        return ticket.vectors

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, size = [], 0
                while self._queue and size + len(self._queue[0].texts) <= self.max_batch:
                    size += len(self._queue[0].texts)
                    batch.append(self._queue.pop(0))
                if not batch:
                    self._busy = False
                    return
            try:
                vectors = self.inner.embed([t for ticket in batch for t in ticket.texts])
                start = 0
                for ticket in batch:
                    ticket.vectors = vectors[start:start + len(ticket.texts)]
                    start += len(ticket.texts)
            except BaseException as err:  # noqa: BLE001 - re-raised in every waiter; none hangs
                for ticket in batch:
                    ticket.error = err
            for ticket in batch:
                ticket.done.set()


__all__ = ["BatchingEmbedder"]
