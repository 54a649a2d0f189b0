"""engram._files: atomic writes leave the old content or the new, and no temporary file behind."""

from __future__ import annotations

import json

import pytest

from engram._files import atomic_path, atomic_write_json, atomic_write_text


def test_writes_replace_the_target_and_leave_nothing_else(tmp_path):
    target = tmp_path / "sub" / "a.json"
    atomic_write_json(target, {"b": 1})
    atomic_write_json(target, {"n": 2})
    assert json.loads(target.read_text()) == {"n": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.json"]


def test_a_failing_writer_keeps_the_old_content(tmp_path):
    target = tmp_path / "t.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_a_directory_as_target_fails_and_leaves_no_temporary_file(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError):
        atomic_write_text(tmp_path / "d", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_the_three_writers_of_engram_use_the_helper():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "engram"
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if "os.replace(" in p.read_text() or ".replace(path)" in p.read_text())
    assert users == ["_files.py"]
