"""Expiry (TTL) and the store's controllable clock: a fake clock moved by hand, never sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engram.errors import EngramError
from engram.store import MemoryStore

from tests.modules.conftest import WordHashEmbedder

NS = ("memories", "u1")
START = datetime(2025, 1, 1, tzinfo=UTC)


class FakeClock:
    """A clock the test moves: ``clock.advance(seconds)``."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def store(clock):
    with MemoryStore.in_memory(embedder=WordHashEmbedder(), clock=clock) as s:
        yield s


def test_every_timestamp_comes_from_the_store_clock(store, clock):
    rec = store.put(NS, "k", "likes tea")
    assert rec.created_at == START and rec.updated_at == START
    clock.advance(60)
    upd = store.update(NS, "k", content="likes coffee")
    assert upd.created_at == START and upd.updated_at == START + timedelta(seconds=60)
    clock.advance(60)
    tomb = store.delete(NS, "k")
    assert tomb.updated_at == START + timedelta(seconds=120)
    assert [r.updated_at for r in store.history(NS, "k")] == [START, START + timedelta(seconds=60),
                                                              START + timedelta(seconds=120)]


def test_a_bad_clock_is_refused():
    with pytest.raises(EngramError, match="clock must be a callable"):
        MemoryStore.in_memory(embedder=WordHashEmbedder(), clock="now")
    with MemoryStore.in_memory(embedder=WordHashEmbedder(), clock=lambda: datetime(2025, 1, 1)) as naive:
        with pytest.raises(EngramError, match="aware datetime"):
            naive.put(NS, "k", "x")
        assert naive.count(NS) == 0
