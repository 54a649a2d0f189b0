"""Searcher: LM-written queries merged and ranked; retrieval by the recent window; LangMem-style constructors."""

from __future__ import annotations

import asyncio

import dspy

from engram import modules
from engram.modules._searcher import (
    MemorySearcher,
    merge_results,
    parse_queries,
    retrieve_for_window,
)
from engram.testing._scripted import scripted_lm
from engram.trajectories import Message

NS = ("memories", "u1")


def fill(store):
    for key, text in {"tea": "Drinks green tea every morning", "car": "Drives a red car",
                      "city": "Lives in Lisbon", "dog": "Has a dog named Rex"}.items():
        store.put(NS, key, {"content": text}, kind="Memory", text=text)


def test_queries_are_parsed_deduplicated_and_capped():
    assert parse_queries("1. tea\n- Tea\n* red car\n\n3) dog", 3) == ["tea", "red car", "dog"]


def test_searcher_merges_results_of_several_queries(store):
    fill(store)
    lm = scripted_lm({"queries": "green tea morning\nred car\ngreen tea"})
    searcher = MemorySearcher(store, ("memories", "{user_id}"), query_limit=3, limit=3)
    with dspy.context(lm=lm):
        pred = searcher(conversation="What should I drink and how do I get to work?", values={"user_id": "u1"})
    assert pred.queries == ["green tea morning", "red car", "green tea"]
    ids = [r.id for r in pred.memories]
    assert ids[:2] in (["tea", "car"], ["car", "tea"]) and len(ids) == len(set(ids)) <= 3
    scores = [r.score for r in pred.memories]
    assert scores == sorted(scores, reverse=True)
    pred = asyncio.run(_async(searcher, lm))
    assert "tea" in [r.id for r in pred.memories]


async def _async(searcher, lm):
    with dspy.context(lm=lm):
        return await searcher.acall(conversation="tea?", values={"user_id": "u1"})


def test_merge_keeps_best_score_and_drops_same_text(store):
    fill(store)
    a = store.search(NS, "red car", limit=2)
    b = store.search(NS, "car", limit=2)
    merged = merge_results([a, b], 10)
    assert len({r.id for r in merged}) == len(merged)
    best_car = max(r.score for r in [*a, *b] if r.id == "car")
    assert next(r for r in merged if r.id == "car").score == best_car


def test_window_retrieval_uses_earlier_messages_too(store):
    fill(store)
    messages = [Message(role="user", content="My dog Rex is sick"),
                Message(role="assistant", content="I'm sorry to hear that."),
                Message(role="user", content="What should I do?")]
    found = retrieve_for_window(store, NS, messages, limit=1)
    assert [r.id for r in found] == ["dog"]  # the last message alone says nothing about a dog


def test_langmem_style_constructors(store):
    fill(store)
    lm = scripted_lm({"ops": "", "queries": "tea"})
    extractor = modules.create_memory_manager(lm, instructions="Only food.")
    assert "Only food." in extractor.extract.signature.instructions
    assert extractor(conversation="hi").ops == []  # uses its own LM, no context needed
    manager = modules.create_memory_store_manager(lm, store=store, namespace=NS,
                                                  schemas=[modules.UserProfile], default={"name": "Ana"})
    assert manager.profile
    searcher = modules.create_memory_searcher(lm, namespace=NS, store=store)
    assert searcher(conversation="tea?").queries == ["tea"]
    summarizer = modules.create_thread_extractor(scripted_lm({"title": "t", "summary": "s"}))
    assert summarizer(conversation="hello").title == "t"
