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
