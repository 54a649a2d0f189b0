"""The service's command line (typer app mounted as ``engram serve|mcp|keys``)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from engram.serve import KeyStore, app

runner = CliRunner()


def test_keys_create_list_revoke(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGRAM_HOME", str(tmp_path))
    made = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--scopes", "read,write", "--name", "ci"])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[0]
    assert key.startswith("egk_") and KeyStore(tmp_path / "serve-keys.db").verify(key).tenant == "acme"
    listed = runner.invoke(app, ["keys", "list", "--json"])
    [row] = json.loads(listed.stdout)
    assert row["tenant"] == "acme" and row["scopes"] == ["read", "write"] and row["revoked_at"] is None
    assert key not in listed.stdout and key.split("_", 2)[2] not in listed.stdout
    assert runner.invoke(app, ["keys", "revoke", row["id"]]).exit_code == 0
    assert json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)[0]["revoked_at"]
    assert KeyStore(tmp_path / "serve-keys.db").verify(key) is None


def test_bad_input_is_refused_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGRAM_HOME", str(tmp_path))
    monkeypatch.delenv("ENGRAM_CHROMA_URL", raising=False)
    bad_scope = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--scopes", "root"])
    assert bad_scope.exit_code == 2 and "read, write, optimize, admin" in bad_scope.output
    bad_tenant = runner.invoke(app, ["keys", "create", "--tenant", "../acme"])
    assert bad_tenant.exit_code == 2 and "tenant" in bad_tenant.output
    workers = runner.invoke(app, ["serve", "--workers", "2"])
    assert workers.exit_code == 2 and "ENGRAM_CHROMA_URL" in workers.output
    unknown = runner.invoke(app, ["keys", "revoke", "nope"])
    assert unknown.exit_code == 2 and "keys list" in unknown.output
    assert KeyStore(tmp_path / "serve-keys.db").list() == []


def test_serve_refuses_a_bad_port_or_log_level_and_passes_a_good_one(tmp_path, monkeypatch):
    import uvicorn

    monkeypatch.setenv("ENGRAM_HOME", str(tmp_path))
    monkeypatch.delenv("ENGRAM_CHROMA_URL", raising=False)
    started: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(kwargs))
    for args, words in [(["--log-level", "loud"], "--log-level"), (["--port", "99999"], "--port"),
                        (["--port", "-5"], "--port"), (["--port", "0"], "--port")]:
        result = runner.invoke(app, ["serve", *args])
        assert result.exit_code == 2 and words in result.output, (args, result.output)
        assert not isinstance(result.exception, KeyError)
    assert started == []
    ok = runner.invoke(app, ["serve", "--port", "65535", "--log-level", "DEBUG"])
    assert ok.exit_code == 0, ok.output
    assert started[0]["port"] == 65535 and started[0]["log_level"] == "debug"


def test_mcp_on_a_home_engram_serve_holds_says_where_its_mcp_endpoint_is(server_factory):
    import subprocess
    import sys

    from tests.serve.conftest import LAUNCH, ROOT

    server = server_factory("held").start()
    done = subprocess.run([sys.executable, str(LAUNCH), "mcp", "--tenant", "acme"], cwd=ROOT, env=server.env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"error: ENGRAM_HOME {server.home} is in use by another engram process "
                           f"(pid {server.proc.pid}: `launch.py serve --port {server.port}")
    assert f"{server.url}/mcp" in line and "its own ENGRAM_HOME" in line and "ENGRAM_CHROMA_URL" in line
    assert server.client().get("/healthz").status_code == 200  # the service is untouched


def test_home_in_use_names_what_it_can_of_the_holder(tmp_path, monkeypatch):
    import socket

    from engram.errors import StoreInUseError
    from engram.serve._cli import home_in_use

    monkeypatch.setenv("ENGRAM_HOME", str(tmp_path))
    here = socket.gethostname()
    anywhere = home_in_use(StoreInUseError("busy", holder={"pid": 7, "host": here, "argv": [
        "engram", "serve", "--host=0.0.0.0", "--port", "9000"]}))
    assert "http://127.0.0.1:9000/mcp" in anywhere and f"ENGRAM_HOME {tmp_path} " in anywhere
    assert "http://[::1]:8080/mcp" in home_in_use(StoreInUseError("busy", holder={"argv": ["engram", "serve",
                                                                                           "--host", "::1"]}))
    uvicorn = home_in_use(StoreInUseError("busy", holder={"argv": ["uvicorn", "engram.serve:create_app"]}))
    assert "http://127.0.0.1:8000/mcp" in uvicorn and "still starting" in uvicorn
    other = home_in_use(StoreInUseError("busy", holder={"pid": 7, "argv": ["engram", "mcp", "--tenant", "a"]}))
    assert "(pid 7: `engram mcp --tenant a`)" in other and "Stop that process" in other and "/mcp" in other
    old = home_in_use(StoreInUseError("busy", holder={"pid": 7}))  # a lock written before argv was recorded
    assert "(pid 7)" in old and "run `engram serve` once" in old
