"""`engram memory ls|show|history|export|import|purge` through typer's CliRunner, on real persistent stores."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from engram.cli import app
from engram.store import MemoryStore

runner = CliRunner()
NS = ("memories", "u1")
EMBEDDER = "all-MiniLM-L6-v2"  # a spec the CLI can reopen the store with (offline, bundled)


@pytest.fixture
def store_dir(tmp_path):
    path = tmp_path / "store"
    with MemoryStore.persistent(path, embedder=EMBEDDER) as store:
        store.put(NS, "diet", "vegetarian", metadata={"topic": "food"}, provenance=["t1"])
        store.update(NS, "diet", content={"fact": "vegan [bold]strict[/]"})
        store.put(NS, "city", "lives in Lyon")
        store.delete(NS, "city")
        store.put(("memories", "u2"), "lang", "prefers Python")
        store.put((*NS, "engram.processed"), "t1", {"written": 1}, kind="engram.processed")
    return path


def run(*args: str, input: str | None = None):
    return runner.invoke(app, ["memory", *args], input=input)


def test_ls_counts_live_and_deleted_and_hides_bookkeeping(store_dir):
    result = run("ls", "--store", str(store_dir), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["path"], r["memories"], r["deleted"]) for r in rows] == [("memories/u1", 1, 1), ("memories/u2", 1, 0)]
    assert [r["path"] for r in json.loads(run("ls", "memories/u2", "--store", str(store_dir), "--json").stdout)] \
        == ["memories/u2"]
    internal = json.loads(run("ls", "--internal", "--store", str(store_dir), "--json").stdout)
    assert "memories/u1/engram.processed" in [r["path"] for r in internal]
    table = run("ls", "--store", str(store_dir))
    assert table.exit_code == 0 and "memories/u1" in table.stdout and "engram.processed" not in table.stdout


def test_ls_keys_lists_memories(store_dir):
    rows = json.loads(run("ls", "memories", "--keys", "--store", str(store_dir), "--json").stdout)
    assert [(r["path"], r["key"], r["version"]) for r in rows] == [("memories/u1", "diet", 2), ("memories/u2", "lang", 1)]
    table = run("ls", "memories", "--keys", "--store", str(store_dir))
    assert "vegan [bold]strict[/]" in table.stdout  # content is shown as text, not read as rich markup


def test_show_prints_the_current_version(store_dir):
    data = json.loads(run("show", "memories/u1", "diet", "--store", str(store_dir), "--json").stdout)
    assert data["content"] == {"fact": "vegan [bold]strict[/]"} and data["version"] == 2
    assert data["metadata"] == {"topic": "food"} and data["provenance"] == [{"trajectory_id": "t1"}]
    deleted = json.loads(run("show", "memories/u1", "city", "--store", str(store_dir), "--json").stdout)
    assert deleted["deleted"] is True
    table = run("show", "memories/u1", "diet", "--store", str(store_dir))
    assert table.exit_code == 0 and "vegan [bold]strict[/]" in table.stdout


def test_history_lists_every_version(store_dir):
    data = json.loads(run("history", "memories/u1", "diet", "--store", str(store_dir), "--json").stdout)
    assert [(r["version"], r["content"]) for r in data] == [(1, "vegetarian"), (2, {"fact": "vegan [bold]strict[/]"})]
    table = run("history", "memories/u1", "city", "--store", str(store_dir))
    assert table.exit_code == 0 and "yes" in table.stdout  # the delete is a version of its own


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_export_then_import_into_a_new_store(store_dir, tmp_path, suffix):
    out = tmp_path / f"backup.{suffix}"
    result = run("export", str(out), "--namespace", "memories/u1", "--store", str(store_dir))
    assert result.exit_code == 0, result.output
    assert "exported 2 memories (4 versions) from 1 namespaces" in result.stdout

    again = run("export", str(out), "--store", str(store_dir))
    assert again.exit_code == 1 and "--force" in again.stderr

    target = tmp_path / "target"
    result = run("import", str(out), "--store", str(target), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["versions"] == 4 and json.loads(result.stdout)["reembedded"] == 0
    with MemoryStore.persistent(store_dir) as source, MemoryStore.persistent(target) as copy:
        assert copy.to_frame(history=True, include_deleted=True).equals(
            source.to_frame(NS, history=True, include_deleted=True))

    conflict = run("import", str(out), "--store", str(target))
    assert conflict.exit_code == 1 and "already exist" in conflict.stderr
    assert len([line for line in conflict.stderr.splitlines() if line.strip()]) == 1
    skipped = run("import", str(out), "--store", str(target), "--on-conflict", "skip")
    assert skipped.exit_code == 0 and "2 skipped" in skipped.stdout


def test_default_store_is_the_configured_one(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGRAM_HOME", str(tmp_path / "home"))
    missing = run("ls")
    assert missing.exit_code == 1 and "no memory store at" in missing.stderr
    with MemoryStore.persistent(tmp_path / "home" / "chroma", embedder=EMBEDDER) as store:
        store.put(NS, "k", "stored under ENGRAM_HOME")
    assert json.loads(run("show", "memories/u1", "k", "--json").stdout)["content"] == "stored under ENGRAM_HOME"


@pytest.mark.parametrize("args, problem", [
    (["show", "memories/u1", "nope"], "no memory 'nope' in memories/u1"),
    (["history", "memories/u1", "nope"], "no memory 'nope'"),
    (["show", "memories//u1", "diet"], "empty part"),
    (["ls", "a/{user_id}"], "template field"),
    (["import", "missing.jsonl"], "no such export file"),
    (["import", "backup.csv"], "*.jsonl or *.parquet"),
    (["export", "backup.txt"], "*.jsonl or *.parquet"),
])
def test_errors_are_one_line_and_exit_1(store_dir, tmp_path, monkeypatch, args, problem):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "backup.csv").write_text("a,b\n")
    result = run(*args, "--store", str(store_dir))
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and problem in lines[0]


@pytest.mark.parametrize("args", [["ls"], ["show", "memories/u1", "k"], ["import", "backup.jsonl"]])
def test_a_store_that_is_a_file_gets_cli_advice(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "backup.jsonl").write_text("")
    for store in ("afile", "afile/sub"):
        result = run(*args, "--store", store)
        assert result.exit_code == 1 and "--store PATH" in result.stderr, result.stderr
        assert "MemoryStore" not in result.stderr and "persistent(" not in result.stderr


@pytest.mark.parametrize("namespace, listing", [("ns/{user_id}", "`engram memory ls ns`"),
                                                ("{user_id}/x", "`engram memory ls`")])
def test_a_template_namespace_gets_cli_advice(store_dir, namespace, listing):
    result = run("show", namespace, "k", "--store", str(store_dir))
    assert result.exit_code == 1 and listing in result.stderr and "template field" in result.stderr
    assert "NamespaceTemplate" not in result.stderr and ".fill" not in result.stderr


def test_a_bad_import_writes_nothing(store_dir, tmp_path):
    out = tmp_path / "backup.jsonl"
    assert run("export", str(out), "--store", str(store_dir)).exit_code == 0
    lines = out.read_text().splitlines()
    broken = json.loads(lines[-1])
    broken["vector"] = [0.0]
    out.write_text("\n".join([*lines[:-1], json.dumps(broken)]) + "\n")
    result = run("import", str(out), "--store", str(tmp_path / "new" / "target"))
    assert result.exit_code == 1 and f"backup.jsonl:{len(lines)}: field 'vector'" in result.stderr
    assert not (tmp_path / "new").exists()  # not even the empty store the import would have filled
    before = run("ls", "--keys", "--store", str(store_dir), "--json").stdout
    result = run("import", str(out), "--store", str(store_dir), "--on-conflict", "replace")
    assert result.exit_code == 1 and run("ls", "--keys", "--store", str(store_dir), "--json").stdout == before


def test_ls_of_an_empty_store_says_so_without_an_empty_table(store_dir):
    listed = run("ls", "nobody", "--store", str(store_dir))
    assert listed.exit_code == 0 and listed.stdout.strip() == "no memories under nobody"


# -- purge: erase a namespace or one memory for good, asking first unless --yes
def _state(path) -> dict:
    with MemoryStore.persistent(path, embedder=EMBEDDER) as store:
        return {"/".join(ns): sorted(r.id for r in store.list(ns, include_deleted=True))
                for ns in store.list_namespaces(include_internal=True)}


def test_purge_asks_first_and_erases_only_on_yes(store_dir):
    before = _state(store_dir)
    refused = run("purge", "memories/u1", "--store", str(store_dir), input="n\n")
    assert refused.exit_code == 1 and "nothing erased" in refused.output
    assert _state(store_dir) == before
    done = run("purge", "memories/u1", "--store", str(store_dir), input="y\n")
    assert done.exit_code == 0, done.output
    assert "erased 2 memories from memories/u1" in done.stdout
    after = _state(store_dir)
    assert after.get("memories/u1", []) == [] and after["memories/u2"] == ["lang"]
    assert after["memories/u1/engram.processed"] == ["t1"]  # a namespace under it is kept, as its help says
    with MemoryStore.persistent(store_dir, embedder=EMBEDDER) as store:
        assert store.history(NS, "diet") == []


def test_purge_one_key_with_yes_and_json(store_dir):
    result = run("purge", "memories/u1", "diet", "--yes", "--json", "--store", str(store_dir))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"namespace": ["memories", "u1"], "key": "diet", "memories": 1}
    assert _state(store_dir)["memories/u1"] == ["city"]


def test_purge_of_a_key_that_is_not_there_is_an_error_naming_how_to_list_keys(store_dir):
    result = run("purge", "memories/u1", "nope", "--yes", "--store", str(store_dir))
    assert result.exit_code == 1
    assert "no memory 'nope' in memories/u1" in result.output and "ls memories/u1 --keys" in result.output
    empty = run("purge", "memories/u9", "--yes", "--store", str(store_dir))
    assert empty.exit_code == 0 and "erased 0 memories from memories/u9 (it held none)" in empty.stdout
