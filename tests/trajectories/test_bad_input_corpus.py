"""Issue 11 acceptance: every bad input to the trajectory entry points is an EngramError that
names the problem, and nothing is written. Run with ``-s`` to print the count per entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engram.errors import EngramError
from engram.trajectories import TrajectoryDataset, coerce

GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}

RECORDS: list[tuple[str, object, str]] = [
    ("a pair that is no conversation", [1, 2], "item #0"),
    ("a string", "hello", "trajector|list"),
    ("no messages", {"feedback": {"score": 0.5}}, "messages"),
    ("messages not a list", {"messages": "hi"}, "messages"),
    ("empty messages", {"messages": []}, "message"),
    ("message not an object", {"messages": ["hi"]}, "message"),
    ("unknown role", {"messages": [{"role": "wizard", "content": "x"}]}, "role"),
    ("missing role", {"messages": [{"content": "x"}]}, "role"),
    ("content a number", {"messages": [{"role": "user", "content": 5}]}, "content"),
    ("score above 1", {**GOOD, "feedback": {"score": 1.5}}, "score"),
    ("score below 0", {**GOOD, "feedback": {"score": -0.1}}, "score"),
    ("score NaN", {**GOOD, "feedback": {"score": float("nan")}}, "score"),
    ("score a word", {**GOOD, "feedback": {"score": "great"}}, "score"),
    ("score a bool", {**GOOD, "feedback": {"score": True}}, "score"),
    ("score a list", {**GOOD, "feedback": {"score": [1]}}, "score"),
    ("unknown feedback field", {**GOOD, "feedback": {"stars": 5}}, "stars|extra|feedback"),
    ("unknown source", {**GOOD, "feedback": {"score": 0.5, "source": "oracle"}}, "source"),
    ("unknown top-level field", {**GOOD, "colour": "red"}, "colour|extra"),
    ("metadata not an object", {**GOOD, "metadata": 3}, "metadata"),
    ("time not a time", {**GOOD, "time": "yesterday-ish"}, "time"),
    ("tool call without id", {"messages": [{"role": "tool", "content": "x", "tool_call_id": 5}]}, "tool"),
]

FILES: list[tuple[str, str | bytes, str]] = [
    ("null.jsonl", "null\n", "object|trajector|dict"),
    ("broken.jsonl", "{bad\n", "invalid JSON"),
    ("array-in-jsonl.jsonl", "[1, 2]\n", "object|trajector"),
    ("latin1.jsonl", b'{"messages": "\xe9"}\n', "UTF-8"),
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("object.json", '{"messages": []}', "array"),
    ("numbers.json", "[1, 2, 3]", "object|trajector"),
    ("data.txt", "hello", "unsupported"),
    ("no-suffix", "hello", "unsupported"),
    ("bad.csv", "a,b\n1,2\n", "messages|column"),
    ("bad.parquet", "not parquet", "parquet|read"),
    ("second-line.jsonl", json.dumps(GOOD) + "\n{bad\n", ":2|line 2|invalid JSON"),
]


def _counts(request: pytest.FixtureRequest, name: str, n: int) -> None:
    if request.config.getoption("capture") == "no":
        print(f"\n{name}: {n} bad inputs, each an EngramError")


@pytest.mark.parametrize("what, record, pattern", RECORDS, ids=[r[0] for r in RECORDS])
def test_bad_records_are_engram_errors(what: str, record: object, pattern: str) -> None:
    with pytest.raises(EngramError) as caught:
        coerce([record] if not isinstance(record, str) else record)
    assert caught.match(f"(?i){pattern}"), str(caught.value)


@pytest.mark.parametrize("name, content, pattern", FILES, ids=[f[0] for f in FILES])
def test_bad_files_are_engram_errors_and_write_nothing(tmp_path: Path, name: str, content: str | bytes,
                                                       pattern: str) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(EngramError) as caught:
        TrajectoryDataset.load(path)
    assert caught.match(f"(?i){pattern}"), str(caught.value)
    assert name in str(caught.value) or str(path) in str(caught.value)  # the error names the file
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_missing_file_and_directory(tmp_path: Path) -> None:
    for target in (tmp_path / "nope.jsonl", tmp_path):
        with pytest.raises(EngramError):
            TrajectoryDataset.load(target)


def test_corpus_size(request: pytest.FixtureRequest) -> None:
    _counts(request, "coerce (records)", len(RECORDS))
    _counts(request, "TrajectoryDataset.load (files)", len(FILES) + 2)
    assert len(RECORDS) >= 20 and len(FILES) + 2 >= 12
