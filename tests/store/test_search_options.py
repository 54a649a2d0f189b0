"""search() options: min_score, dense vs hybrid ranking, time-aware scoring, and search_prefix."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

import numpy as np
import pytest

from engram.errors import NamespaceError, ValidationError
from engram.store import MemoryRanker, MemoryStore
from engram.store._archive._temporal import has_time_cue, query_dates, record_date, wants_recent
from engram.store._embeddings import Embedder

NS = ("memories", "u1")
FACTS = {"t1": "Ticket 4471 reports that login fails on the mobile app",
         "t2": "The mobile app login screen freezes after an update, says ticket 9920",
         "t3": "Login problems on the mobile app were fixed last week",
         "t4": "The user owns a cat named Miso"}


class SameVector(Embedder):
    """Every text gets the same vector (a stand-in): cosine cannot tell memories apart."""

    spec = "test:same-vector"

    def _embed(self, texts):
        return [[1.0, 0.0, 0.0] for _ in texts]


@pytest.fixture
def facts(mem_store):
    for key, text in FACTS.items():
        mem_store.put(NS, key, text, metadata={"topic": "pets" if key == "t4" else "support"})
    return mem_store


# -- min_score ---------------------------------------------------------------------------------------
def test_min_score_drops_results_below_the_threshold(facts):
    everything = facts.search(NS, "what is ticket 4471 about?")
    scores = [r.score for r in everything]
    assert scores == sorted(scores, reverse=True) and all(-1.0 <= s <= 1.0 for s in scores)  # cosine
    cut = (scores[0] + scores[1]) / 2
    kept = facts.search(NS, "what is ticket 4471 about?", min_score=cut)
    assert [r.id for r in kept] == [everything[0].id]
    assert facts.search(NS, "what is ticket 4471 about?", min_score=scores[1]) == everything[:2]
    assert facts.search(NS, "what is ticket 4471 about?", min_score=1.0) == []  # no memory matches exactly
    hybrid = facts.search(NS, "what is ticket 4471 about?", ranking="hybrid", min_score=cut)
    assert hybrid and all(r.score >= cut for r in hybrid)


@pytest.mark.parametrize("bad", [math.nan, math.inf, "0.5", True, [0.5]])
def test_min_score_must_be_a_finite_number(facts, bad):
    with pytest.raises(ValidationError, match="min_score"):
        facts.search(NS, "ticket", min_score=bad)


@pytest.mark.parametrize("bad, ranking", [(5, None), (1.01, "dense"), (-1.5, None), (1.41, "hybrid"),
                                          (-1.01, "hybrid"), (1.61, MemoryRanker(lexical=0.3, date=0.3))])
def test_min_score_outside_the_score_range_is_refused(facts, bad, ranking):
    with pytest.raises(ValidationError, match=r"outside the scores .* between"):
        facts.search(NS, "ticket", min_score=bad, ranking=ranking)
    with pytest.raises(ValidationError, match="outside the scores"):
        facts.search_prefix(("memories", "nobody"), "ticket", min_score=bad, ranking=ranking)  # no namespaces


@pytest.mark.parametrize("edge, ranking", [(1.0, None), (-1.0, None), (1.4, "hybrid"),
                                           (1.6, MemoryRanker(lexical=0.3, date=0.3))])
def test_min_score_at_the_edge_of_the_range_is_accepted(facts, edge, ranking):
    facts.search(NS, "ticket", min_score=edge, ranking=ranking)


def test_min_score_needs_a_query_and_ranking_must_be_known(facts):
    with pytest.raises(ValidationError, match="min_score needs a query"):
        facts.search(NS, None, filter={"topic": "pets"}, min_score=0.2)
    with pytest.raises(ValidationError, match="ranking must be one of"):
        facts.search(NS, "ticket", ranking="bm25")


def test_min_score_applies_to_the_message_archive_score(mem_store):
    turns = [{"key": f"D1:{i}", "kind": "message", "content": text, "text": f"Ann: {text}",
              "metadata": {"conversation": "c", "session": 1, "turn": i, "speaker": "Ann"}}
             for i, text in enumerate(["I adopted a puppy", "The weather is grey", "My puppy chews shoes",
                                       "Work was long today"])]
    mem_store.put_many(NS, turns)
    ranked = mem_store.search(NS, "puppy", kind="message")
    cut = ranked[1].score
    assert mem_store.search(NS, "puppy", kind="message", min_score=cut) == ranked[:2]


# -- hybrid ranking ------------------------------------------------------------------------------------
def test_hybrid_is_cosine_plus_a_bounded_lexical_bonus(facts):
    dense = {r.id: r.score for r in facts.search(NS, "ticket 4471", ranking="dense")}
    hybrid = facts.search(NS, "ticket 4471", ranking=MemoryRanker(lexical=0.2, date=0.0))
    bonus = {r.id: r.score - dense[r.id] for r in hybrid}
    assert bonus["t1"] == pytest.approx(0.2, abs=1e-5)       # the best BM25 match: the full bonus
    assert 0 < bonus["t2"] < 0.2                              # shares "ticket" only
    assert bonus["t3"] == pytest.approx(0, abs=1e-6) and bonus["t4"] == pytest.approx(0, abs=1e-6)
    no_bonus = facts.search(NS, "ticket 4471", ranking=MemoryRanker(lexical=0.0, date=0.0))
    assert [(r.id, pytest.approx(r.score, abs=1e-5)) for r in no_bonus] == list(dense.items())


def test_hybrid_ranks_by_words_where_cosine_cannot_tell(embedder):
    with MemoryStore.in_memory(embedder=SameVector()) as store:
        for key, text in FACTS.items():
            store.put(NS, key, text)
        dense = store.search(NS, "Miso")
        assert len({round(r.score, 6) for r in dense}) == 1             # all tied
        assert store.search(NS, "Miso", ranking="hybrid")[0].id == "t4"
        assert store.search(NS, "ticket 9920", ranking="hybrid")[0].id == "t2"


def test_hybrid_honours_filter_keys_kind_offset_deletes_and_new_writes(facts):
    q = "mobile app login"
    full = facts.search(NS, q, ranking="hybrid")
    assert {r.id for r in full} == set(FACTS)
    assert facts.search(NS, q, ranking="hybrid", offset=1, limit=2) == full[1:3]
    assert [r.id for r in facts.search(NS, q, ranking="hybrid", filter={"topic": "pets"})] == ["t4"]
    assert {r.id for r in facts.search(NS, q, ranking="hybrid", keys=["t1", "t4"])} == {"t1", "t4"}
    facts.put(NS, "p1", "Profile: mobile app power user", kind="profile")
    assert [r.id for r in facts.search(NS, q, ranking="hybrid", kind="profile")] == ["p1"]
    facts.delete(NS, full[0].id)
    after = facts.search(NS, q, ranking="hybrid", kind="memory")
    assert full[0].id not in {r.id for r in after}
    assert full[0].id in {r.id for r in facts.search(NS, q, ranking="hybrid", kind="memory",
                                                     include_deleted=True)}
    facts.put(NS, "t5", "Ticket 5000: mobile app login works again")
    assert "t5" in {r.id for r in facts.search(NS, q, ranking="hybrid")}


# -- time-aware scoring ----------------------------------------------------------------------------------
def test_time_cues_are_read_from_queries_and_records():
    assert query_dates("When did Melanie go camping in June?") == [(None, 6, None)]
    assert query_dates("What did she show on October 13, 2023?") == [(2023, 10, 13)]
    assert query_dates("What happened on 1 February, 2023?") == [(2023, 2, 1)]
    assert query_dates("May I ask what you like?") == [] and not has_time_cue("May I ask what you like?")
    assert wants_recent("What did Melanie paint recently?") and not wants_recent("What does Mel paint?")
    assert record_date("1:56 pm on 8 May, 2023") == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert record_date("2023-06-02") == datetime(2023, 6, 2, tzinfo=UTC) and record_date("soon") is None


@pytest.fixture
def dated(mem_store):
    for key, text, when in [("may", "Went hiking in the mountains with friends", "2023-05-20"),
                            ("june", "Went hiking by the lake with my sister", "2023-06-18"),
                            ("july", "Went hiking in the forest alone", "2023-07-09")]:
        mem_store.put(NS, key, text, metadata={"date": when})
    return mem_store


def test_a_named_date_lifts_memories_dated_then(dated):
    plain = MemoryRanker(lexical=0.2, date=0.0)
    timed = MemoryRanker(lexical=0.2, date=0.5)
    for month, key in [("May", "may"), ("June", "june"), ("July", "july")]:
        for query in (f"Where did I go hiking in {month}?", f"Where did I go hiking in {month} 2023?"):
            assert dated.search(NS, query, ranking=timed)[0].id == key
            lifted = {r.id: r.score for r in dated.search(NS, query, ranking=timed)}
            base = {r.id: r.score for r in dated.search(NS, query, ranking=plain)}
            assert lifted[key] - base[key] == pytest.approx(0.5, abs=1e-5)
            others = [lifted[k] - base[k] for k in base if k != key]
            if "2023" in query:   # the right year alone earns part of the bonus
                assert all(0 < d < 0.5 for d in others)
            else:
                assert all(d == pytest.approx(0, abs=1e-6) for d in others)
    # no cue, no change
    no_cue = "Where did I go hiking?"
    assert dated.search(NS, no_cue, ranking=timed) == dated.search(NS, no_cue, ranking=plain)


def test_recent_queries_lift_newer_memories_only_when_asked(dated):
    recent = MemoryRanker(lexical=0.0, date=0.0, recency=0.5)
    assert dated.search(NS, "Where did I go hiking recently?", ranking=recent)[0].id == "july"
    plain = MemoryRanker(lexical=0.0, date=0.0)
    assert dated.search(NS, "Where did I go hiking?", ranking=recent) == \
        dated.search(NS, "Where did I go hiking?", ranking=plain)


def test_the_archive_ranker_takes_the_date_signal(mem_store):
    from engram.store import HybridRanker
    from engram.store._archive._search import hybrid_search

    turns = [{"key": f"D{s}:1", "kind": "message", "content": "We went camping", "text": "Ann: We went camping",
              "metadata": {"conversation": "c", "session": s, "turn": 1, "speaker": "Ann", "date_time": when}}
             for s, when in [(1, "1:00 pm on 3 June, 2023"), (2, "2:00 pm on 9 July, 2023")]]
    mem_store.put_many(NS, turns)
    query = "When did Ann go camping in July?"
    timed = hybrid_search(mem_store, NS, query, None, 2, 0, HybridRanker(date=1.0))
    assert timed[0].id == "D2:1" and timed[0].score > timed[1].score
    flat = hybrid_search(mem_store, NS, query, None, 2, 0, HybridRanker(date=0.0))
    assert flat[0].score == pytest.approx(flat[1].score)  # identical turns: only the date separates them


# -- search_prefix ------------------------------------------------------------------------------------------
@pytest.fixture
def tenants(mem_store):
    rows = {("memories", "u1"): {"a": "likes green tea"},
            ("memories", "u1", "t1"): {"b": "drinks green tea every morning", "c": "plays chess"},
            ("memories", "u1", "t2"): {"d": "green tea gives them a headache at night"},
            ("memories", "u10"): {"e": "likes green tea too"},
            ("memories", "u2", "t1"): {"f": "green tea lover"},
            ("memories", "u1", "engram.processed"): {"g": "green tea ledger row"}}
    for ns, items in rows.items():
        for key, text in items.items():
            mem_store.put(ns, key, text, metadata={"n": len(ns)})
    return mem_store


def test_search_prefix_stays_inside_the_prefix_and_merges_by_score(tenants):
    found = tenants.search_prefix(("memories", "u1"), "green tea", limit=50)
    assert {r.namespace for r in found} == {("memories", "u1"), ("memories", "u1", "t1"), ("memories", "u1", "t2")}
    assert {r.id for r in found} == {"a", "b", "c", "d"}                   # not u10, u2 or the ledger
    assert [r.score for r in found] == sorted((r.score for r in found), reverse=True)
    for r in found:
        assert r.score == pytest.approx(tenants.search(r.namespace, "green tea", keys=[r.id])[0].score)
    assert tenants.search_prefix(("memories", "u10"), "green tea") == tenants.search(("memories", "u10"), "green tea")
    assert tenants.search_prefix(("memories", "u3"), "green tea") == []


def test_search_prefix_pages_thresholds_filters_and_ranks(tenants):
    full = tenants.search_prefix(("memories", "u1"), "green tea", limit=50)
    assert tenants.search_prefix(("memories", "u1"), "green tea", offset=1, limit=2) == full[1:3]
    cut = full[1].score
    assert tenants.search_prefix(("memories", "u1"), "green tea", min_score=cut) == full[:2]
    only_threads = tenants.search_prefix(("memories", "u1"), "green tea", filter={"n": 3}, limit=50)
    assert {r.id for r in only_threads} == {"b", "c", "d"}
    listed = tenants.search_prefix(("memories", "u1"), None, filter={"n": 3}, limit=50)
    assert [r.id for r in listed] == ["b", "c", "d"] and all(r.score is None for r in listed)
    hybrid = tenants.search_prefix(("memories", "u1"), "green tea", ranking="hybrid", limit=50)
    assert {r.id for r in hybrid} == {"a", "b", "c", "d"}
    assert [r.score for r in hybrid] == sorted((r.score for r in hybrid), reverse=True)
    everyone = tenants.search_prefix(("memories",), "green tea", limit=50)
    assert {r.id for r in everyone} == {"a", "b", "c", "d", "e", "f"}
    assert asyncio.run(tenants.asearch_prefix(("memories", "u1"), "green tea", limit=50)) == full


def test_search_prefix_checks_its_arguments_before_reading(tenants):
    with pytest.raises(NamespaceError):
        tenants.search_prefix(("memories", ""), "tea")
    with pytest.raises(ValidationError):
        tenants.search_prefix(("memories", "nobody"), "tea", limit=0)
    with pytest.raises(ValidationError, match="reserved"):
        tenants.search_prefix(("memories", "nobody"), "tea", filter={"_kind": "x"})
    with pytest.raises(ValidationError, match="min_score"):
        tenants.search_prefix(("memories", "nobody"), "tea", min_score="high")


def test_memory_ranker_scores_match_its_definition():
    from engram.store._archive._ranking import ArchiveIndex

    vectors = np.eye(3, dtype=np.float32)
    index = ArchiveIndex.build(["a", "b", "c"], ["red apple", "green apple pie", "blue sky"], vectors,
                               [(0, 0, i) for i in range(3)])
    q = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    scores = MemoryRanker(lexical=0.0, date=0.0).scores(index, "apple", q)
    np.testing.assert_allclose(scores, [0.6, 0.8, 0.0], atol=1e-6)
    with_words = MemoryRanker(lexical=0.3, date=0.0).scores(index, "apple", q)
    assert with_words[2] == pytest.approx(0.0) and max(with_words[:2] - scores[:2]) == pytest.approx(0.3)


def test_archived_messages_without_a_said_date_get_no_date_signal(mem_store):
    # the archive's default ranker uses the date signal; a turn is never dated by when it was archived
    now = datetime.now(UTC).strftime("%B %Y")
    mem_store.put_many(NS, [{"key": f"D1:{i}", "kind": "message", "content": "We went camping",
                             "text": "Ann: We went camping",
                             "metadata": {"conversation": "c", "session": 1, "turn": i, "speaker": "Ann"}}
                            for i in (1, 2)])
    from engram.store._archive._search import archive_index

    index, _ = archive_index(mem_store, NS)
    assert index.dates == [None, None]
    memories, _ = archive_index(mem_store, NS, kind=None)
    assert all(d is not None for d in memories.dates)          # memories fall back to when they were written
    found = mem_store.search(NS, f"camping in {now}", kind="message")
    assert found[0].score == pytest.approx(found[1].score)
