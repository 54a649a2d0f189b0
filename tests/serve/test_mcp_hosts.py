"""The Host / Origin check of /mcp (the MCP SDK's DNS-rebinding protection), in process (FastAPI's
TestClient): on by default on loopback, with names added by ENGRAM_SERVE_ALLOWED_HOSTS /
``engram serve --allowed-host`` (a reverse proxy's), and refusals that say which setting fixes them."""

from __future__ import annotations

import pytest

from tests.serve.conftest import in_process_app

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "test", "version": "1"}}}


def mcp_client(tmp_path, **settings):
    from fastapi.testclient import TestClient

    app, service = in_process_app(tmp_path, mcp=True, **settings)
    key = service.keys.create("acme", "read,write").key
    return TestClient(app, headers={"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"})


def initialize(client, host: str, origin: str | None = None):
    headers = {"Host": host, **({"Origin": origin} if origin else {})}
    return client.post("/mcp", json=INITIALIZE, headers=headers)


def test_by_default_only_loopback_names_reach_mcp_and_a_refusal_names_the_setting(tmp_path):
    with mcp_client(tmp_path) as client:
        assert initialize(client, "127.0.0.1:8080").status_code == 200
        refused = initialize(client, "mcp.example.com")
        assert refused.status_code == 421
        error = refused.json()["error"]
        assert error["code"] == "invalid_host" and error["field"] == "Host"
        assert "--allowed-host mcp.example.com" in error["message"] and "ENGRAM_SERVE_ALLOWED_HOSTS" in error["message"]


def test_allowed_hosts_admit_a_proxy_name_and_keep_the_check_on(tmp_path):
    with mcp_client(tmp_path, allowed_hosts=["mcp.example.com", "proxy.internal:8443"]) as client:
        for host in ("mcp.example.com", "mcp.example.com:443", "proxy.internal:8443", "localhost:8080"):
            answer = initialize(client, host)
            assert answer.status_code == 200, (host, answer.text)
            assert '"serverInfo"' in answer.text
        assert initialize(client, "mcp.example.com", "https://mcp.example.com").status_code == 200
        assert initialize(client, "proxy.internal:9000").status_code == 421
        assert initialize(client, "evil.example").status_code == 421
        origin = initialize(client, "mcp.example.com", "https://evil.example")
        assert origin.status_code == 403 and origin.json()["error"]["code"] == "invalid_origin"
        assert "--allowed-host evil.example" in origin.json()["error"]["message"]


def test_a_wildcard_interface_with_allowed_hosts_checks_them(tmp_path):
    with mcp_client(tmp_path, host="0.0.0.0", allowed_hosts=["mcp.example.com"]) as client:
        assert initialize(client, "mcp.example.com").status_code == 200
        assert initialize(client, "10.1.2.3:8080").status_code == 421
    with mcp_client(tmp_path / "open", host="0.0.0.0") as client:  # the SDK's default there: no check
        assert initialize(client, "10.1.2.3:8080").status_code == 200


def test_the_setting_comes_from_the_environment_and_is_checked(monkeypatch):
    from engram.errors import ConfigurationError
    from engram.serve import ServeSettings

    monkeypatch.setenv("ENGRAM_SERVE_ALLOWED_HOSTS", " mcp.example.com, proxy:8443 ,[::1]:*")
    settings = ServeSettings.from_env()
    assert settings.allowed_hosts == ["mcp.example.com", "proxy:8443", "[::1]:*"]
    assert settings.to_env()["ENGRAM_SERVE_ALLOWED_HOSTS"] == "mcp.example.com,proxy:8443,[::1]:*"
    for bad, words in (("https://mcp.example.com", "is a URL"), ("two words", "is not a host name")):
        monkeypatch.setenv("ENGRAM_SERVE_ALLOWED_HOSTS", bad)
        with pytest.raises(ConfigurationError, match=f"ENGRAM_SERVE_ALLOWED_HOSTS: {bad!r} {words}"):
            ServeSettings.from_env()


def test_serve_passes_repeated_allowed_host_options_on(tmp_path, monkeypatch):
    import os

    import uvicorn
    from typer.testing import CliRunner

    from engram.serve import app

    monkeypatch.setenv("ENGRAM_HOME", str(tmp_path))
    monkeypatch.delenv("ENGRAM_CHROMA_URL", raising=False)
    monkeypatch.delenv("ENGRAM_SERVE_ALLOWED_HOSTS", raising=False)
    seen: list[str | None] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.append(os.environ.get("ENGRAM_SERVE_ALLOWED_HOSTS")))
    runner = CliRunner()
    ok = runner.invoke(app, ["serve", "--allowed-host", "mcp.example.com", "--allowed-host", "proxy:8443"])
    assert ok.exit_code == 0, ok.output
    assert seen == ["mcp.example.com,proxy:8443"]
    bad = runner.invoke(app, ["serve", "--allowed-host", "https://mcp.example.com"])
    assert bad.exit_code == 2 and "is a URL" in bad.output and len(seen) == 1
