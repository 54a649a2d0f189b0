"""MCP with the official SDK's client: stdio (``engram mcp``) and streamable HTTP (``/mcp``)."""

from __future__ import annotations

import json
import sys

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.serve.conftest import ROOT


def engram_schemas() -> dict[str, dict]:
    from engram.modules import (
        create_manage_memory_tool,
        create_search_memory_tool,
        openai_function_schema,
    )
    from engram.store import MemoryStore

    store = MemoryStore.in_memory()
    tools = [create_manage_memory_tool(store, ("m",)), create_search_memory_tool(store, ("m",))]
    return {t.name: openai_function_schema(t, strict=True)["function"]["parameters"] for t in tools}


def text(result) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


async def exercise(client: Client, fact: str) -> list[dict]:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"manage_memory", "search_memory", "get_prompt"}
    for name, schema in engram_schemas().items():
        assert tools[name].input_schema == schema, name
    assert tools["get_prompt"].input_schema["additionalProperties"] is False
    made = await client.call_tool("manage_memory", {"action": "create", "content": fact, "id": None})
    assert not made.is_error and text(made).startswith("created memory"), text(made)
    found = await client.call_tool("search_memory", {"query": fact, "limit": 5})
    assert not found.is_error, text(found)
    return json.loads(text(found))


def test_stdio_server_scopes_by_tenant(tmp_path):
    from engram.serve import KeyStore

    key = KeyStore(tmp_path / "serve-keys.db").create("acme", "read,write").key
    env = {"PYTHONPATH": str(ROOT), "ENGRAM_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    async def run() -> list[dict]:
        acme = StdioServerParameters(command=sys.executable, args=["-m", "engram.serve", "mcp", "--key", key],
                                     env=env, cwd=str(ROOT))
        async with Client(acme, read_timeout_seconds=120) as client:
            return await exercise(client, "prefers green tea")

    mine = anyio.run(run)
    assert [m["memory"] for m in mine] == ["prefers green tea"]
    from engram.store import MemoryStore

    store = MemoryStore.persistent(tmp_path / "chroma")
    assert store.list_namespaces() == [("tenants", "acme", "memories")]  # the key's tenant, nothing else
    assert [r.text for r in store.list(("tenants", "acme", "memories"))] == ["prefers green tea"]


def http_client(server, key: str | None) -> Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    transport = streamable_http_client(f"{server.url}/mcp", http_client=create_mcp_http_client(headers=headers))
    return Client(transport, read_timeout_seconds=60)


def test_streamable_http_uses_the_bearer_key(shared_server):
    acme, globex = shared_server.key("mcp-acme"), shared_server.key("mcp-globex")
    reader = shared_server.key("mcp-acme", "read")

    async def run():
        async with http_client(shared_server, acme) as client:
            mine = await exercise(client, "allergic to peanuts")
        async with http_client(shared_server, globex) as client:
            theirs = json.loads(text(await client.call_tool("search_memory", {"query": "peanuts", "limit": 5})))
        async with http_client(shared_server, reader) as client:
            refused = await client.call_tool("manage_memory", {"action": "create", "content": "x", "id": None})
        return mine, theirs, refused

    mine, theirs, refused = anyio.run(run)
    assert [m["memory"] for m in mine] == ["allergic to peanuts"]
    assert theirs == []
    assert refused.is_error and "'write'" in text(refused)
    with shared_server.client(acme) as c:
        listed = c.post("/v1/memories/search", json={"namespace": ["memories"], "limit": 10}).json()["results"]
    assert [r["content"] for r in listed] == [{"content": "allergic to peanuts"}]


def test_http_endpoint_refuses_requests_without_a_key(shared_server):
    import httpx

    response = httpx.post(f"{shared_server.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                          headers={"Accept": "application/json, text/event-stream"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    assert set(response.json()["error"]) == {"code", "message", "field"}
    with pytest.raises(Exception):  # noqa: B017 - the SDK wraps the 401 in its own error types
        anyio.run(lambda: _connect(shared_server))


async def _connect(server) -> None:
    async with http_client(server, None) as client:
        await client.list_tools()


def test_refused_tool_arguments_are_one_sentence_for_the_client():
    import anyio
    from mcp import Client

    from engram.serve._mcp import build_mcp
    from engram.store import MemoryStore

    class Service:
        store = MemoryStore.in_memory(max_content_chars=100)
        settings = type("S", (), {"mcp_namespace": "memories"})()

    service = Service()
    server = build_mcp(service, lambda ctx, scope: "acme")
    calls = [("search_memory", {"query": "tea", "limit": "many"}), ("search_memory", {"limit": 3}),
             ("manage_memory", {"action": "create", "content": ["a"]}), ("get_prompt", {"name": 3}),
             ("manage_memory", {"action": "create", "content": "x" * 500}),
             ("search_memory", {"query": "tea", "filter": {"topic": "food"}})]  # Chroma's shape, not the tool's

    async def run() -> list:
        async with Client(server) as client:
            return [await client.call_tool(name, args) for name, args in calls]

    answers = [(r.is_error, text(r)) for r in anyio.run(run)]
    assert all(is_error for is_error, _ in answers)
    said = [message.split(": ", 1)[1] for _, message in answers]
    # each says what the argument takes, from its description in the tool's schema
    assert said[:4] == [
        "argument 'limit' is invalid: input should be a valid integer, unable to parse string as an integer. "
        "'limit': At most this many results (1-50).",
        "argument 'query' is required. 'query': What to look for.",
        "argument 'content' is invalid: input should be a valid string. 'content': The memory (create / update).",
        "argument 'name' is invalid: input should be a valid string. 'name': The prompt's name (without your tenant)."]
    assert "over the limit of 100; split it into several shorter memories." in said[4]
    assert said[5].startswith("argument 'filter' is invalid: input should be a valid list. 'filter': Only memories "
                              'whose metadata matches every condition, e.g. [{"field": "topic", "op": "eq"')
    for message in said:
        assert "\n" not in message and "pydantic" not in message and "MemoryStore" not in message
    assert service.store.list(("tenants", "acme", "memories")) == []
