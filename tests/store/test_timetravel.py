"""as_of views and diffs, built from the version history, with a fake clock (no sleeps)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engram.errors import EngramError, StoreError
from engram.store import MemoryDiff
from tests.store.test_expiry import START, clock, store  # noqa: F401  (shared fake-clock fixtures)

NS = ("memories", "u1")


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


@pytest.fixture
def timeline(store, clock):  # noqa: F811  (the imported fixtures, by pytest's design)
    """t=0 city=Porto, diet=vegetarian; t=10 city->Lisbon, +pet; t=20 diet deleted; t=30 otp (ttl 5)."""
    store.put(NS, "city", "lives in Porto", metadata={"topic": "home"})
    store.put(NS, "diet", "is vegetarian", metadata={"topic": "food"})
    clock.advance(10)
    store.update(NS, "city", content="lives in Lisbon")
    store.put(NS, "pet", "has a cat named Miso", metadata={"topic": "home"})
    clock.advance(10)
    store.delete(NS, "diet")
    clock.advance(10)
    store.put(NS, "otp", "one time code 4721", ttl=5)
    clock.advance(10)   # now t=40, the otp expired at t=35
    return store


def test_as_of_sees_old_content_after_an_update_and_a_delete(timeline):
    then = timeline.as_of(at(5))
    assert then.get(NS, "city").content == "lives in Porto"
    assert then.get(NS, "diet").content == "is vegetarian"
    assert then.get(NS, "pet") is None                          # not yet written at t=5
    assert [r.id for r in then.list(NS)] == ["city", "diet"]
    assert then.count(NS) == 2
    assert [r.version for r in then.history(NS, "city")] == [1]

    later = timeline.as_of(at(25))
    assert later.get(NS, "city").content == "lives in Lisbon"
    assert later.get(NS, "diet") is None                        # deleted at t=20
    assert later.get(NS, "diet", include_deleted=True).deleted
    assert timeline.get(NS, "diet") is None and timeline.get(NS, "city").content == "lives in Lisbon"


def test_as_of_search_and_filter_rank_what_was_there(timeline):
    then = timeline.as_of(at(5))
    hits = then.search(NS, "lives in Porto")
    assert hits[0].id == "city" and hits[0].content == "lives in Porto"
    assert hits[0].score == pytest.approx(1.0, abs=1e-6)
    assert [r.id for r in then.search(NS, filter={"topic": "food"})] == ["diet"]
    assert [r.id for r in timeline.as_of(at(15)).list(NS, filter={"topic": "home"})] == ["city", "pet"]


def test_as_of_honours_expiry_at_that_time(timeline):
    assert timeline.as_of(at(32)).get(NS, "otp").content == "one time code 4721"
    assert timeline.as_of(at(36)).get(NS, "otp") is None
    timeline.sweep()
    assert timeline.as_of(at(32)).get(NS, "otp") is not None   # the sweep does not rewrite the past
    assert timeline.as_of(at(36)).get(NS, "otp") is None


def test_a_view_refuses_writes_and_bad_times(timeline):
    view = timeline.as_of(at(5))
    for call in (lambda: view.put(NS, "k", "x"), lambda: view.update(NS, "city", content="x"),
                 lambda: view.delete(NS, "city"), lambda: view.restore(NS, "city", 1),
                 lambda: view.sweep(), lambda: view.purge(NS)):
        with pytest.raises(StoreError, match="read-only"):
            call()
    assert timeline.get(NS, "city").content == "lives in Lisbon"
    with pytest.raises(EngramError, match="time zone"):
        timeline.as_of(datetime(2025, 1, 1))
    with pytest.raises(EngramError, match="ISO 8601"):
        timeline.as_of("yesterday")
    assert timeline.as_of(at(5).timestamp()).get(NS, "city").content == "lives in Porto"
    assert timeline.as_of(at(5).isoformat()).get(NS, "city").content == "lives in Porto"


def test_diff_lists_added_changed_and_removed(timeline):
    d = timeline.diff(at(5), at(40), namespace=NS)
    assert isinstance(d, MemoryDiff)
    assert [r.id for r in d.added] == ["pet"]                   # otp came and went in between
    assert [(c.before.content, c.after.content) for c in d.changed] == [("lives in Porto", "lives in Lisbon")]
    assert [r.id for r in d.removed] == ["diet"] and d.removed[0].content == "is vegetarian"

    d2 = timeline.diff(at(31), at(40))                          # every namespace
    assert [r.id for r in d2.removed] == ["otp"] and not d2.added and not d2.changed
    assert timeline.diff(at(41), at(50)).empty
    with pytest.raises(EngramError, match="pass the earlier time first"):
        timeline.diff(at(40), at(5))


def test_diff_as_a_table(timeline):
    frame = timeline.diff(at(5), at(40), namespace=NS).to_frame()
    assert list(zip(frame["change"], frame["key"])) == [("added", "pet"), ("changed", "city"), ("removed", "diet")]
    changed = frame[frame["change"] == "changed"].iloc[0]
    assert (changed["version_before"], changed["version_after"]) == (1, 2)
    assert (changed["text_before"], changed["text_after"]) == ("lives in Porto", "lives in Lisbon")


def test_async_twins_of_sweep_and_diff(timeline):
    import asyncio

    async def both():
        return await timeline.asweep(), await timeline.adiff(at(31), at(40), namespace=NS)

    swept, d = asyncio.run(both())
    assert swept == 1 and [r.id for r in d.removed] == ["otp"]
    assert timeline.history(NS, "otp")[-1].expired_at == at(35)
