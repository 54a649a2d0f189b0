"""The REST search endpoint's min_score, and the MCP search tool's offset / filter."""

from __future__ import annotations

import pytest

NS = ["memories", "search-params"]


@pytest.fixture
def key(shared_server):
    return shared_server.key("acme-search")


def test_rest_search_drops_results_below_min_score(shared_server, key):
    with shared_server.client(key) as c:
        for k, text in [("tea", "drinks green tea every morning"), ("car", "drives an old blue van")]:
            assert c.post("/v1/memories", json={"namespace": NS, "key": k, "content": text}).status_code == 201
        body = {"namespace": NS, "query": "green tea", "limit": 10}
        everything = c.post("/v1/memories/search", json=body).json()["results"]
        assert [r["id"] for r in everything] == ["tea", "car"]
        cut = (everything[0]["score"] + everything[1]["score"]) / 2
        kept = c.post("/v1/memories/search", json={**body, "min_score": cut}).json()["results"]
        assert [r["id"] for r in kept] == ["tea"]
        assert c.post("/v1/memories/search", json={**body, "offset": 1}).json()["results"] == everything[1:]
        no_query = c.post("/v1/memories/search", json={"namespace": NS, "min_score": 0.1})
        assert no_query.status_code == 422 and "min_score" in no_query.text
        assert c.post("/v1/memories/search", json={**body, "min_score": "high"}).status_code == 422


def test_mcp_search_tool_takes_offset_and_filter():
    import json

    import anyio
    from mcp import Client

    from engram.serve._mcp import build_mcp

    class Service:
        from engram.store import MemoryStore

        store = MemoryStore.in_memory()
        settings = type("S", (), {"mcp_namespace": "memories"})()

    service = Service()
    ns = ("tenants", "acme", "memories")
    for k, text, topic in [("a", "green tea in the morning", "food"), ("b", "green tea at night", "sleep"),
                           ("c", "herbal tea", "food")]:
        service.store.put(ns, k, {"content": text}, kind="Memory", text=text, metadata={"topic": topic})
    server = build_mcp(service, lambda ctx, scope: "acme")

    async def run():
        async with Client(server) as client:
            tea = {"query": "green tea", "limit": 5}
            everything = json.loads((await client.call_tool("search_memory", tea)).content[0].text)
            paged = json.loads((await client.call_tool("search_memory", {**tea, "offset": 1})).content[0].text)
            food = await client.call_tool("search_memory", {**tea, "filter": [
                {"field": "topic", "op": "eq", "value": "food"}]})
            bad = await client.call_tool("search_memory", {**tea, "filter": [{"field": "_kind", "op": "eq",
                                                                               "value": "x"}]})
            return everything, paged, json.loads(food.content[0].text), bad

    everything, paged, food, bad = anyio.run(run)
    assert paged == everything[1:] and {h["id"] for h in food} == {"a", "c"}
    assert bad.is_error and "reserved" in bad.content[0].text
