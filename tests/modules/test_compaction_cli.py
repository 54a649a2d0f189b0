"""``engram memory compact`` through typer's CliRunner, on a persistent store (offline stand-in LM)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import engram.testing  # noqa: F401  (registers the offline/ LM names)
from engram.cli import app
from engram.store import MemoryStore

NS = ("memories", "u1")
TEXTS = ["The user's home city is Lyon.", "Lyon is the user's home city.", "The user's home city is Oslo.",
         "Likes tea."]


def _fill(path):
    with MemoryStore.persistent(path) as store:
        for text in TEXTS:
            store.put(NS, None, {"content": text}, kind="Memory", text=text)


def _live(path):
    with MemoryStore.persistent(path) as store:
        return sorted(r.text for r in store.list(NS))


def test_compact_command_prints_a_json_report_and_compacts(tmp_path):
    _fill(tmp_path)
    result = CliRunner().invoke(app, ["memory", "compact", "memories/u1", "--store", str(tmp_path),
                                      "--lm", "offline/compaction", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["before"] == 4 and report["after"] == 2 and report["complete"]
    assert _live(tmp_path) == ["Likes tea.", "The user's home city is Oslo."]


def test_compact_command_cap_and_text_output(tmp_path):
    _fill(tmp_path)
    result = CliRunner().invoke(app, ["memory", "compact", "memories/u1", "--store", str(tmp_path),
                                      "--lm", "offline/compaction", "--cap", "1"])
    assert result.exit_code == 0, result.output
    assert "4 -> 1 memories" in result.output and "1 evicted" in result.output
    assert len(_live(tmp_path)) == 1


def test_compact_command_bad_input_exits_1_and_writes_nothing(tmp_path):
    _fill(tmp_path)
    runner = CliRunner()
    for args in (["memories/nobody"], ["memories/u1", "--cap", "0"], ["memories//u1"]):
        result = runner.invoke(app, ["memory", "compact", *args, "--store", str(tmp_path), "--lm", "offline/compaction"])
        assert result.exit_code == 1 and "error:" in result.output
    assert _live(tmp_path) == sorted(TEXTS)


def test_compact_advice_for_an_unknown_namespace_or_store_is_a_command(tmp_path):
    _fill(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["memory", "compact", "memories/nobody", "--store", str(tmp_path),
                                 "--lm", "offline/compaction"])
    assert result.exit_code == 1 and f"`engram memory ls --store {tmp_path}`" in result.output
    assert "list_namespaces" not in result.output
    (tmp_path / "afile").write_text("x")
    result = runner.invoke(app, ["memory", "compact", "memories/u1", "--store", str(tmp_path / "afile"),
                                 "--lm", "offline/compaction"])
    assert result.exit_code == 1 and "--store PATH" in result.output and "MemoryStore" not in result.output
