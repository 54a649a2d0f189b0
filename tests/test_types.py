"""Type checkers see the real types behind engram's lazy faces (mypy, as `make test` runs it)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _mypy(tmp_path: Path, code: str) -> str:
    from mypy import api

    snippet = tmp_path / "snippet.py"
    snippet.write_text(textwrap.dedent(code))
    stdout, stderr, _ = api.run(["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir",
                                 str(ROOT / ".mypy_cache"), str(snippet)])
    return stdout + stderr


def test_lazy_names_have_their_real_types(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = _mypy(tmp_path, """
        import engram
        from engram.store import MemoryStore
        from engram.lm import resolve
        reveal_type(engram.TrajectoryDataset.load)
        reveal_type(engram.compile_judge)
        reveal_type(MemoryStore.in_memory)
        reveal_type(resolve)
        engram.Trajectory(messages="not a list")
        engram.no_such_name
    """)
    assert "-> engram.trajectories._dataset.TrajectoryDataset" in out
    assert "-> engram.optimizers._judge.JudgeReport" in out  # compile_judge's signature, not Any
    assert "-> engram.store._store.MemoryStore" in out
    assert "def (role: Literal['task'] | Literal['reflection'] | Literal['judge']" in out
    assert 'incompatible type "str"; expected "list[Message]"' in out  # a wrong argument is caught
    assert 'has no attribute "no_such_name"' in out  # and a typo: no catch-all __getattr__ for checkers
    assert "Any" not in [line.split("Revealed type is ")[-1].strip('"') for line in out.splitlines()
                         if "Revealed type is" in line]


@pytest.mark.parametrize("face", ["engram", "engram.store", "engram.modules", "engram.optimizers",
                                  "engram.tracking", "engram.runner", "engram.loaders", "engram.testing"])
def test_every_exported_name_is_known_to_the_checker(tmp_path, monkeypatch, face):
    import importlib

    monkeypatch.chdir(ROOT)
    names = [n for n in importlib.import_module(face).__all__ if not n.startswith("__")]
    out = _mypy(tmp_path, f"import {face}\n" + "".join(f"{face}.{n}\n" for n in names))
    assert "has no attribute" not in out, out
