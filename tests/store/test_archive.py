"""Hybrid ranking of archived conversation turns (dense + BM25 + neighbours)."""

from __future__ import annotations

import numpy as np
import pytest

from engram.store._archive._ranking import ArchiveIndex, HybridRanker

NS = ("archive", "c1")
TURNS = [
    ("Caroline", "Hey Mel! How have you been?"),
    ("Melanie", "Swamped with the kids and work. What's new with you?"),
    ("Caroline", "I went to the LGBTQ support group yesterday and it was powerful."),
    ("Melanie", "That's great! I painted a lake sunrise last year, by the way."),
    ("Caroline", "Which reminds me, what did you do last weekend?"),
    ("Melanie", "We went camping at the beach with the kids."),
]


def items(conversation="c1"):
    return [{"key": f"D1:{i + 1}", "kind": "message", "content": text, "text": f"{who}: {text}",
             "metadata": {"conversation": conversation, "session": 1, "turn": i + 1, "speaker": who}}
            for i, (who, text) in enumerate(TURNS)]


def test_ranker_uses_lexical_and_neighbour_signals():
    keys = ["a", "b", "c", "d"]
    vectors = np.eye(4, dtype=np.float32)
    texts = ["zebra stripes", "plain talk", "more talk", "unrelated"]
    index = ArchiveIndex.build(keys, texts, vectors, [("c", 1, i) for i in range(4)])
    query_vector = np.array([0, 0, 0, 1], dtype=np.float32)   # dense points at "d"
    dense_only = HybridRanker(lexical=0, neighbour=0, speaker=0)
    assert dense_only.rank(index, "zebra", query_vector)[0][0] == "d"
    lexical_heavy = HybridRanker(dense=0.2, lexical=1.0, neighbour=0, speaker=0)
    assert lexical_heavy.rank(index, "zebra", query_vector)[0][0] == "a"
    with_neighbours = HybridRanker(dense=0.2, lexical=1.0, neighbour=0.9, speaker=0)
    top2 = [k for k, _ in with_neighbours.rank(index, "zebra", query_vector)[:2]]
    assert top2 == ["a", "b"]          # "b" is lifted by its neighbour "a"


def test_neighbours_stop_at_session_boundaries():
    index = ArchiveIndex.build(["x", "y", "z"], ["a", "b", "c"], np.eye(3), [("c", 1, 2), ("c", 2, 1), ("c", 1, 1)])
    # sorted order: (1,1)=z, (1,2)=x, (2,1)=y -> z<->x are neighbours, y has none
    assert index.keys[index.next[2]] == "x" and index.keys[index.prev[0]] == "z"
    assert index.next[0] == 0 and index.prev[1] == 1


def test_store_hybrid_search_finds_the_turn(store):
    mem_store = store  # all three backends
    mem_store.put_many(NS, items())
    hits = mem_store.search(NS, "When did Caroline go to the LGBTQ support group?", kind="message", limit=3)
    assert hits[0].id == "D1:3" and hits[0].kind == "message" and hits[0].score is not None
    assert hits[0].metadata["speaker"] == "Caroline"
    camping = mem_store.search(NS, "Where did Melanie camp with her kids?", kind="message", limit=2)
    assert "D1:6" in [h.id for h in camping]
    only_mel = mem_store.search(NS, "support group", kind="message", filter={"speaker": "Melanie"})
    assert only_mel and all(h.metadata["speaker"] == "Melanie" for h in only_mel)


def test_archive_cache_sees_new_and_deleted_turns(mem_store):
    mem_store.put_many(NS, items())
    assert mem_store.search(NS, "support group", kind="message")[0].id == "D1:3"
    mem_store.delete(NS, "D1:3")
    assert "D1:3" not in [h.id for h in mem_store.search(NS, "support group", kind="message")]
    mem_store.put(NS, "D2:1", "I bought a violin for my daughter", kind="message",
                  metadata={"conversation": "c1", "session": 2, "turn": 1, "speaker": "Melanie"})
    assert mem_store.search(NS, "violin", kind="message")[0].id == "D2:1"


def test_archive_is_namespace_scoped(mem_store):
    mem_store.put_many(NS, items())
    assert mem_store.search(("archive", "c2"), "support group", kind="message") == []
    mem_store.put(("archive", "c1x"), "k", "support group notes", kind="message")
    assert {h.namespace for h in mem_store.search(NS, "support group", kind="message")} == {NS}


@pytest.mark.parametrize("raw, expected", [
    ("D1:3", ["D1:3"]), ("D8:6; D9:17", ["D8:6", "D9:17"]), ("D:11:26", ["D11:26"]), ("D", []),
    (["D9:1 D4:4 D4:6"], ["D9:1", "D4:4", "D4:6"]),
])
def test_locomo_evidence_repair(raw, expected):
    from engram.loaders._locomo import parse_evidence

    assert parse_evidence(raw) == expected


def test_locomo_loader_counts_and_corrections():
    from engram.loaders._locomo import DEFAULT_PATH, load_locomo

    if not DEFAULT_PATH.exists():
        pytest.skip("LoCoMo data not present")
    plain = load_locomo(DEFAULT_PATH)
    fixed = load_locomo(DEFAULT_PATH, corrections=True)
    assert len(plain) == 10 and sum(len(c.turns) for c in plain) == 5882
    assert sum(len(c.questions) for c in plain) == 1986
    q_plain = plain[0].questions[1]
    q_fixed = fixed[0].questions[1]
    assert q_plain.evidence == ["D1:12"] and q_fixed.evidence == ["D1:14"] and q_fixed.corrected
    assert sum(q.corrected for c in fixed for q in c.questions) == 57
    item = plain[0].archive_items()[0]
    assert item["kind"] == "message" and item["metadata"]["session"] == 1 and item["text"].startswith("Caroline:")


def test_archive_ranker_is_configurable(embedder):
    from engram.store import HybridRanker, MemoryStore

    lexical_only = HybridRanker(dense=0.0, lexical=1.0, neighbour=0.0, speaker=0.0)
    with MemoryStore.in_memory(embedder=embedder, archive_ranker=lexical_only) as store:
        store.put_many(NS, items())
        hits = store.search(NS, "camping beach", kind="message", limit=6)
        assert hits[0].id == "D1:6"
        assert all(h.score == 0.0 or h.score < hits[0].score for h in hits[1:])
