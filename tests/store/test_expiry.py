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


def test_an_expired_memory_leaves_every_read(store, clock):
    store.put(NS, "otp", "one time code 4721", ttl=300)
    store.put(NS, "tea", "likes green tea")
    assert store.get(NS, "otp").expires_at == START + timedelta(seconds=300)
    clock.advance(301)
    assert store.get(NS, "otp") is None
    assert [r.id for r in store.search(NS, "one time code")] == ["tea"]
    assert [r.id for r in store.search(NS)] == ["tea"]
    assert [r.id for r in store.list(NS)] == ["tea"]
    assert store.count(NS) == 1
    assert [r.id for r, _ in store.vectors(NS)] == ["tea"]
    assert store.get(NS, "otp", include_deleted=True).id == "otp"   # still there until a sweep
    with pytest.raises(EngramError, match="no live memory"):
        store.delete(NS, "otp")
    with pytest.raises(EngramError, match="no memory"):
        store.update(NS, "otp", content="changed")


def test_pages_count_live_rows_only(store, clock):
    for i in range(6):
        store.put(NS, f"k{i}", f"memory number {i}", ttl=10 if i % 2 else None)
    clock.advance(11)
    assert [r.id for r in store.list(NS, limit=2, offset=1)] == ["k2", "k4"]
    assert len(store.search(NS, "memory number", limit=5)) == 3


def test_refresh_on_read_extends_and_can_be_turned_off(store, clock):
    store.put(NS, "a", "alpha", ttl=100)
    clock.advance(90)
    assert store.get(NS, "a").expires_at == START + timedelta(seconds=190)   # read at 90 -> 190
    clock.advance(90)
    assert store.search(NS, "alpha")[0].id == "a"                            # alive at 180, -> 280
    clock.advance(90)
    assert store.get(NS, "a") is not None                                    # alive at 270
    assert [r.version for r in store.history(NS, "a")] == [1]                # refresh writes no version

    quiet = ("memories", "quiet")
    store.set_ttl(("memories", "quiet"), 100, refresh_on_read=False)
    store.put(quiet, "b", "beta")
    clock.advance(90)
    assert store.get(quiet, "b").expires_at == clock.now + timedelta(seconds=10)
    clock.advance(20)
    assert store.get(quiet, "b") is None


def test_update_keeps_the_ttl_and_restarts_it(store, clock):
    store.put(NS, "a", "alpha", ttl=100)
    clock.advance(50)
    rec = store.update(NS, "a", content="alpha two")
    assert rec.ttl == 100 and rec.expires_at == clock.now + timedelta(seconds=100)
    never = store.update(NS, "a", ttl=None)
    assert never.ttl is None and never.expires_at is None
    short = store.mutate(NS, "a", lambda r: {"content": r.content + "!"}, ttl=timedelta(seconds=5))
    assert short.ttl == 5.0
    many = store.put_many(NS, [{"key": "b", "content": "beta", "ttl": 7}, {"key": "c", "content": "gamma"}])
    assert [r.ttl for r in many] == [7.0, None]


def test_sweep_writes_a_tombstone_the_history_shows(store, clock):
    store.put(NS, "otp", "4721", ttl=60)
    store.put(NS, "tea", "likes tea")
    assert store.sweep() == 0
    clock.advance(61)
    assert store.sweep(NS) == 1
    assert store.sweep() == 0                                   # nothing left to sweep
    versions = store.history(NS, "otp")
    assert [(r.version, r.deleted) for r in versions] == [(1, False), (2, True)]
    assert versions[-1].expired_at == START + timedelta(seconds=60)
    assert versions[-1].updated_at == clock.now
    assert store.count(NS, include_deleted=True) == 2 and store.count(NS) == 1
    back = store.restore(NS, "otp", version=1)                   # restore gives it a fresh ttl
    assert back.version == 3 and back.expires_at == clock.now + timedelta(seconds=60)
    assert store.get(NS, "otp").content == "4721"


def test_default_ttl_per_namespace_prefix_and_store(clock):
    with MemoryStore.in_memory(embedder=WordHashEmbedder(), clock=clock, default_ttl=1000) as store:
        store.set_ttl(("sessions",), 10)
        store.set_ttl(("sessions", "vip"), None)
        assert store.put(("sessions", "u1"), "a", "x").ttl == 10
        assert store.put(("sessions", "vip", "u2"), "a", "x").ttl is None
        assert store.put(NS, "a", "x").ttl == 1000
        assert store.put(("sessions", "u1"), "b", "y", ttl=None).ttl is None   # the write's own wins
        clock.advance(11)
        assert store.get(("sessions", "u1"), "a") is None
        assert store.get(("sessions", "vip", "u2"), "a") is not None
        assert store.get(("sessions", "u1"), "b") is not None


@pytest.mark.parametrize("bad", [-1, 0, "60", True, float("nan"), timedelta(seconds=-5), [60]])
def test_a_bad_ttl_is_refused_and_writes_nothing(store, bad):
    with pytest.raises(EngramError, match="ttl must be"):
        store.put(NS, "k", "x", ttl=bad)
    with pytest.raises(EngramError, match="ttl must be"):
        store.put_many(NS, [{"key": "k", "content": "x", "ttl": bad}])
    with pytest.raises(EngramError, match="ttl must be"):
        store.set_ttl(NS, bad)
    assert store.count(NS, include_deleted=True) == 0
    store.put(NS, "k", "x")
    with pytest.raises(EngramError, match="ttl must be"):
        store.update(NS, "k", ttl=bad)
    assert store.history(NS, "k")[-1].version == 1


def test_using_ttl_scopes_writes(store, clock):
    with store.using_ttl(30):
        assert store.put(NS, "a", "x").ttl == 30
        assert store.put(NS, "b", "x", ttl=None).ttl is None
    assert store.put(NS, "c", "x").ttl is None


def test_memory_manager_ttl_applies_to_its_writes_only(store, clock):
    import json

    from engram.modules import MemoryManager
    from engram.testing._scripted import scripted_lm

    answer = json.dumps({"op": "insert", "content": "Lives in Lisbon", "quote": "moved to Lisbon"})
    manager = MemoryManager(store, ("memories", "{user_id}"), lm=scripted_lm({"ops": answer}), ttl=3600)
    result = manager.update([{"role": "user", "content": "I just moved to Lisbon."}], {"user_id": "u1"})
    [written] = result.written
    assert written.ttl == 3600 and written.expires_at == START + timedelta(hours=1)
    assert store.put(NS, "other", "written outside the manager").ttl is None
    clock.advance(3601)
    assert [r.id for r in store.list(NS)] == ["other"]
    assert manager.is_processed(NS, result.trajectory_id)        # the ledger does not expire
    with pytest.raises(EngramError, match="ttl must be"):
        MemoryManager(store, ("memories", "{user_id}"), ttl=-5)


def test_expiry_survives_a_reopen_of_a_persistent_store(tmp_path, clock):
    path = tmp_path / "chroma"
    with MemoryStore.persistent(path, embedder=WordHashEmbedder(), clock=clock) as store:
        store.put(NS, "otp", "4721", ttl=60)
        store.put(NS, "tea", "likes tea")
    clock.advance(61)
    with MemoryStore.persistent(path, embedder=WordHashEmbedder(), clock=clock) as store:
        assert [r.id for r in store.list(NS)] == ["tea"]
        assert store.get(NS, "otp", include_deleted=True).expires_at == START + timedelta(seconds=60)
        assert store.sweep() == 1
