"""search_memory's filter / offset / response_format, strict schemas, fixed namespaces, LangMem's call shapes."""

from __future__ import annotations

import json

import pytest

from engram.errors import ValidationError
from engram.modules._strict import strict_problems
from engram.modules._tools import create_manage_memory_tool, create_search_memory_tool
from engram.store import MemoryRecord, filter_from_items

TEAM = ("memories", "team")
FACTS = [("f1", "The user drinks green tea every morning", {"topic": "food", "rating": 5}),
         ("f2", "The user likes black tea with milk", {"topic": "food", "rating": 2}),
         ("f3", "The user plays tennis on Sundays", {"topic": "sport", "rating": 4}),
         ("f4", "The user drinks herbal tea at night", {"topic": "food", "rating": 4, "tags": ["evening"]})]


@pytest.fixture
def filled(store):
    for key, text, meta in FACTS:
        store.put(TEAM, key, {"content": text}, kind="Memory", text=text, metadata=meta)
    return store


def test_filter_items_become_store_filters():
    assert filter_from_items([{"field": "topic", "op": "eq", "value": "food"}]) == {"topic": {"$eq": "food"}}
    assert filter_from_items([{"field": "topic", "op": "in", "value": ["a", "b"]},
                              {"field": "rating", "op": "gte", "value": 4}]) == {
        "$and": [{"topic": {"$in": ["a", "b"]}}, {"rating": {"$gte": 4}}]}
    assert filter_from_items([]) is None and filter_from_items(None) is None
    with pytest.raises(ValidationError, match=r"filter\[0\].*op 'like'"):
        filter_from_items([{"field": "a", "op": "like", "value": 1}])


def test_filter_and_offset_reach_the_store_through_the_tool(filled):
    search = create_search_memory_tool(TEAM, store=filled, default_limit=10)
    everything = search(query="tea")
    food = search(query="tea", filter=[{"field": "topic", "op": "eq", "value": "food"}])
    assert {h["id"] for h in food} == {"f1", "f2", "f4"}
    assert [h["id"] for h in food] == [h["id"] for h in everything if h["id"] in {"f1", "f2", "f4"}]
    rated = search(query="tea", filter=[{"field": "topic", "op": "eq", "value": "food"},
                                        {"field": "rating", "op": "gte", "value": 4}])
    assert {h["id"] for h in rated} == {"f1", "f4"}
    tagged = search(query="tea", filter=[{"field": "tags", "op": "contains", "value": "evening"}])
    assert [h["id"] for h in tagged] == ["f4"]
    assert search(query="tea", offset=1, limit=2) == everything[1:3]
    assert search(query="tea", offset=len(everything)) == []
    assert search(query="tea", offset=None) == everything


def test_tool_min_score_and_ranking_are_passed_to_the_store(filled):
    everything = create_search_memory_tool(TEAM, store=filled, default_limit=10)(query="green tea")
    cut = sorted(h["score"] for h in everything)[len(everything) // 2]
    kept = create_search_memory_tool(TEAM, store=filled, default_limit=10, min_score=cut)(query="green tea")
    assert kept and all(h["score"] >= cut for h in kept) and len(kept) < len(everything)
    hybrid = create_search_memory_tool(TEAM, store=filled, ranking="hybrid")(query="green tea")
    assert hybrid[0]["id"] == "f1" and hybrid[0]["score"] > everything[0]["score"]  # the BM25 bonus


def test_response_format_content_and_artifact_returns_text_and_records(filled):
    search = create_search_memory_tool(TEAM, store=filled, response_format="content_and_artifact")
    text, records = search(query="tennis", limit=2)
    assert json.loads(text) == create_search_memory_tool(TEAM, store=filled)(query="tennis", limit=2)
    assert all(isinstance(r, MemoryRecord) for r in records) and records[0].id == "f3"
    with pytest.raises(ValidationError, match="response_format"):
        create_search_memory_tool(TEAM, store=filled, response_format="artifact")


def test_a_chroma_style_filter_is_told_the_shape_the_tool_takes(filled):
    """Models often pass the store's own filter ({"topic": "food"}); the refusal shows the tool's."""
    search = create_search_memory_tool(TEAM, store=filled)
    with pytest.raises(ValidationError) as refused:
        search(query="tea", filter={"topic": "food"})
    assert str(refused.value).startswith("search_memory: argument 'filter' is invalid: ")
    assert 'e.g. [{"field": "topic", "op": "eq", "value": "food"}]' in str(refused.value)


def _typed(node, path="$"):
    """Paths of properties that declare no type (strict mode wants every value typed)."""
    bad = []
    for name, sub in node.get("properties", {}).items():
        if "type" not in sub and "anyOf" not in sub and "enum" not in sub:
            bad.append(f"{path}.{name}")
        for alt in sub.get("anyOf", []):
            if "type" not in alt:
                bad.append(f"{path}.{name}.anyOf")
        bad += _typed(sub, f"{path}.{name}")
        if isinstance(sub.get("items"), dict):
            bad += _typed(sub["items"], f"{path}.{name}[]")
    return bad


def test_search_schema_with_filter_is_strict_valid_and_closed(store):
    spec = create_search_memory_tool(TEAM, store=store).openai_schema(strict=True)
    params = spec["function"]["parameters"]
    assert spec["function"]["strict"] is True and strict_problems(params) == []
    assert params["required"] == ["query", "limit", "offset", "filter"] and params["additionalProperties"] is False
    item = params["properties"]["filter"]["items"]
    assert item["additionalProperties"] is False and item["required"] == ["field", "op", "value"]
    assert "open" not in json.dumps(params) and "patternProperties" not in json.dumps(params)
    assert item["properties"]["op"]["enum"][0] == "eq" and _typed(params) == []
    assert "null" in params["properties"]["filter"]["type"] and "null" in params["properties"]["offset"]["type"]


@pytest.mark.parametrize("shape", ["langmem positional", "langmem keywords", "engram positional",
                                   "engram keywords", "with user values", "store None then keyword"])
def test_a_fixed_namespace_is_honoured_in_every_call_shape(store, shape):
    def build(factory):
        return {
            "langmem positional": lambda: factory(TEAM, store=store),
            "langmem keywords": lambda: factory(namespace=TEAM, store=store),
            "engram positional": lambda: factory(store, TEAM),
            "engram keywords": lambda: factory(store=store, namespace=TEAM),
            "with user values": lambda: factory(TEAM, store=store, values={"user_id": "u1"}),
            "store None then keyword": lambda: factory(store, namespace=TEAM),
        }[shape]()

    manage, search = build(create_manage_memory_tool), build(create_search_memory_tool)
    key = manage(action="create", content="Standup is at 9:30").split()[-1]
    assert store.list_namespaces() == [TEAM]
    assert store.get(TEAM, key).text == "Standup is at 9:30"
    assert [h["id"] for h in search(query="when is standup?")] == [key]


def test_langmem_order_without_a_store_uses_the_configured_one_at_first_use(store, monkeypatch):
    from engram.modules import _tools

    monkeypatch.setattr(_tools, "_store", lambda st: store if st is None else st)
    manage = create_manage_memory_tool(TEAM)           # LangMem: the store comes from the context
    manage(action="create", content="Deploys happen on Fridays")
    assert [r.text for r in store.list(TEAM)] == ["Deploys happen on Fridays"]


def test_the_default_namespace_template_still_needs_its_values(store):
    manage = create_manage_memory_tool(store)
    with pytest.raises(Exception, match="user_id"):
        manage(action="create", content="x")
    assert store.list_namespaces() == []
