"""The cost target holds: one LM call per update, at most half LangMem's prompt tokens."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "cost_memory.py"


def test_one_call_and_half_of_langmems_prompt_tokens():
    spec = importlib.util.spec_from_file_location("cost_memory", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not module.SCENARIO.exists():
        pytest.skip("shared cost scenario not present")
    rows = module.measure(module.load_scenario())
    assert [r["existing"] for r in rows] == [0, 10, 50]
    for row in rows:
        assert row["engram_calls"] == 1
        assert row["ratio"] <= module.TARGET_RATIO, row
