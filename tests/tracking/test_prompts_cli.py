"""`engram prompts ...` through typer's CliRunner, on a private SQLite registry."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from engram.tracking._cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def two_versions(tracking_uri, tmp_path):
    first = tmp_path / "v1.txt"
    first.write_text("You help {company} customers.")
    assert invoke("register", "support", str(first), "-m", "first", "--tag", "owner=ana").exit_code == 0
    second = tmp_path / "v2.txt"
    second.write_text("You help {company} customers.\nGive numbered steps.")
    result = invoke("register", "support", str(second), "-m", "steps")
    assert result.exit_code == 0 and "registered support version 2" in result.stdout
    return tracking_uri


def test_promote_show_history_and_list(two_versions):
    result = invoke("promote", "support", "1", "production")
    assert result.exit_code == 0 and "support@production -> version 1" in result.stdout
    shown = invoke("show", "support@production")
    assert shown.exit_code == 0
    assert "support version 1 @production" in shown.stdout and "tag owner: ana" in shown.stdout
    assert shown.stdout.rstrip().endswith("You help {company} customers.")
    as_json = json.loads(invoke("show", "support/2", "--json").stdout)
    assert as_json["version"] == 2 and as_json["tags"]["parent_version"] == "1"
    history = invoke("history", "support")
    assert history.exit_code == 0 and "@production" in history.stdout and "steps" in history.stdout
    listed = invoke("list")
    assert "support" in listed.stdout and "@production=1" in listed.stdout


def test_diff(two_versions):
    result = invoke("diff", "support/1", "support/2")
    assert result.exit_code == 0
    assert "+Give numbered steps." in result.stdout and "--- support/1" in result.stdout


def test_export_to_stdout_and_file_and_load_through_the_loader(two_versions, tmp_path):
    invoke("promote", "support", "2")
    out = invoke("export", "support@production", "--format", "openai")
    assert json.loads(out.stdout) == [{"role": "system",
                                       "content": "You help {company} customers.\nGive numbered steps."}]
    target = tmp_path / "ship" / "support.yaml"
    assert invoke("export", "support@production", "-o", str(target)).exit_code == 0
    assert yaml.safe_load(target.read_text())["version"] == "2"
    loaded = invoke("load", "support@production", "--fallback-dir", str(tmp_path / "fb"))
    assert loaded.exit_code == 0 and "support version 2 (from registry)" in loaded.stdout


def test_export_formats_that_fit_the_file_name_are_written(two_versions, tmp_path):
    assert invoke("export", "support", "--format", "openai", "-o", str(tmp_path / "a.json")).exit_code == 0
    assert invoke("export", "support", "--format", "yaml", "-o", str(tmp_path / "b.yml")).exit_code == 0
    assert invoke("export", "support", "--format", "text", "-o", str(tmp_path / "c.xml")).exit_code == 0
    assert invoke("export", "support", "-o", str(tmp_path / "no-suffix")).exit_code == 0
    assert json.loads((tmp_path / "no-suffix").read_text())["name"] == "support"


def test_load_falls_back_when_the_server_is_down(two_versions, tmp_path):
    invoke("promote", "support", "1")
    fallback = tmp_path / "fb"
    assert invoke("export", "support@production", "-o", str(fallback / "support@production.json")).exit_code == 0
    from engram.tracking import _loader as loader

    loader.clear_cache()
    result = invoke("load", "support@production", "--tracking-uri", "http://127.0.0.1:9",
                    "--fallback-dir", str(fallback))
    assert result.exit_code == 0 and "support version 1 (from fallback)" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["show", "support@staging"], "has no alias 'staging'"),
    (["show", "nope"], "No prompt named 'nope'"),
    (["promote", "support", "9"], "has no version 9"),
    (["export", "support", "--format", "xml"], "Unknown export format 'xml'"),
    (["export", "support", "-o", "never-written.xml"], "Cannot tell the export format from 'never-written.xml'"),
    (["export", "support", "--format", "yaml", "-o", "never-written.json"], "suffix .json means json"),
    (["diff", "support/1", "support/7"], "its versions are 1, 2"),
    (["load", "support@production", "--tracking-uri", "http://127.0.0.1:9"], "Cannot reach the MLflow"),
])
def test_errors_are_one_line_and_exit_non_zero(two_versions, args, message):
    result = invoke(*args)
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_register_refuses_changed_variables(two_versions, tmp_path):
    changed = tmp_path / "v3.txt"
    changed.write_text("You help everyone.")
    result = invoke("register", "support", str(changed))
    assert result.exit_code == 1 and "--allow-variable-change" in result.stderr
    assert invoke("register", "support", str(changed), "--allow-variable-change").exit_code == 0


def test_rollback_alias_delete_list_filter_and_canary_verbs(two_versions):
    from mlflow import MlflowClient

    invoke("promote", "support", "1", "production")
    invoke("promote", "support", "2", "production")
    result = invoke("rollback", "support")
    assert result.exit_code == 0 and "support@production -> version 1 (was 2)" in result.stdout
    decisions = MlflowClient(two_versions).search_runs(
        [MlflowClient(two_versions).get_experiment_by_name("engram-canary").experiment_id])
    assert [r.data.tags["engram.decision"] for r in decisions] == ["rollback"]  # recorded
    assert "support" in invoke("list", "--filter", "name LIKE 'sup%'").stdout
    assert "no prompts registered" in invoke("list", "--filter", "name LIKE 'zzz%'").stdout
    started = invoke("canary", "start", "support", "2", "--fraction", "0.2", "--experiment", "traffic")
    assert started.exit_code == 0 and "support@candidate = v2 for 20% of keys" in started.stdout
    status = json.loads(invoke("canary", "status", "support").stdout)
    assert (status["candidate_version"], status["control_version"], status["fraction"]) == (2, 1, 0.2)
    again = invoke("canary", "start", "support", "2")
    assert again.exit_code == 1 and "already running" in again.stderr
    waiting = invoke("compare", "support")
    assert waiting.exit_code == 0 and "decision: continue" in waiting.stdout, waiting.stderr
    assert invoke("canary", "stop", "support").exit_code == 0
    assert "no canary of support is running" in invoke("canary", "status", "support").stdout
    assert invoke("alias-delete", "support", "production").exit_code == 0
    gone = invoke("alias-delete", "support", "production")
    assert gone.exit_code == 1 and "no alias 'production'" in gone.stderr


@pytest.mark.parametrize("command", [["list"], ["show", "support"], ["history", "support"],
                                     ["diff", "support/1", "support/2"]])
def test_reading_commands_do_not_create_a_registry_where_there_is_none(tmp_path, command):
    db = tmp_path / "elsewhere" / "mlflow.db"
    result = invoke(*command, "--tracking-uri", f"sqlite:///{db}")
    assert result.exit_code == 1 and f"no prompt registry at {db}" in result.stderr
    assert "--tracking-uri" in result.stderr
    assert not (tmp_path / "elsewhere").exists()  # neither the database nor its directory
