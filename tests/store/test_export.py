"""Export / import (JSONL and Parquet) and to_frame: a round trip loses nothing, bad files write nothing."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from engram.errors import ConflictError, StoreError, ValidationError
from engram.store import Embedder, MemoryStore, is_internal

U1, U2, NOTES = ("memories", "u1"), ("memories", "u2"), ("notes",)
LEDGER = ("memories", "u1", "engram.processed")
KEYS = [(U1, "diet"), (U1, "city"), (U1, "tea"), (U2, "lang"), (NOTES, "n1")]


class Counting(Embedder):
    """A deterministic stand-in embedder that counts the texts it embeds."""

    def __init__(self, spec: str = "test:count", dim: int = 4) -> None:
        self.spec, self.dim, self.texts = spec, dim, 0

    def _embed(self, texts):
        self.texts += len(texts)
        return [[float(len(t) % 7 + 1), float(t.count("e") + 1), *([0.5] * (self.dim - 2))] for t in texts]


def filled(embedder: Embedder | None = None) -> MemoryStore:
    """A store with updates, a delete, a restore, provenance, metadata, kinds and a ledger namespace."""
    store = MemoryStore.in_memory(embedder=embedder or Counting())
    store.put(U1, "diet", "vegetarian", metadata={"topic": "food", "confidence": 0.5},
              provenance=[{"trajectory_id": "t1", "quote": "I don't eat meat"}])
    store.update(U1, "diet", content={"fact": "vegan"}, metadata={"confidence": 0.9}, provenance=["t2"])
    store.put(U1, "city", "lives in Lyon", kind="profile")
    store.delete(U1, "city")
    store.put(U1, "tea", "likes green tea")
    store.delete(U1, "tea")
    store.restore(U1, "tea", version=1)
    store.put(U2, "lang", {"fact": "prefers Python", "since": 2019}, text="programming language: Python")
    store.put(NOTES, "n1", "the meeting moved to Friday", metadata={"pinned": True})
    store.put(LEDGER, "t1", {"written": 1}, kind="engram.processed")
    return store


def everything(store: MemoryStore) -> pd.DataFrame:
    return store.to_frame(history=True, include_deleted=True)


def all_vectors(store: MemoryStore) -> dict:
    return {(ns, rec.id): vec for ns in store.list_namespaces()
            for rec, vec in store.vectors(ns, include_deleted=True)}


@pytest.fixture(params=["jsonl", "parquet"])
def suffix(request):
    return request.param


def test_round_trip_loses_nothing_and_does_not_embed_again(tmp_path, suffix):
    source = filled()
    report = source.export(tmp_path / f"backup.{suffix}")
    stored = sum(len(source.history(ns, key)) for ns, key in KEYS)
    assert report.namespaces == [U1, U2, NOTES] and report.memories == len(KEYS) and report.versions == stored

    again = Counting()  # same spec, a new object: the count shows whether import embedded anything
    target = MemoryStore.in_memory(embedder=again)
    imported = target.import_(tmp_path / f"backup.{suffix}")

    assert again.texts == 0 and imported.reembedded == 0
    assert (imported.memories, imported.versions) == (len(KEYS), stored)
    pd.testing.assert_frame_equal(everything(target), everything(source))
    for ns, key in KEYS:
        assert target.history(ns, key) == source.history(ns, key)
    assert all_vectors(target) == all_vectors(source)
    assert target.get(U1, "city") is None and target.get(U1, "city", include_deleted=True).deleted
    assert [r.id for r in target.search(U1, "vegan food")] == [r.id for r in source.search(U1, "vegan food")]
    # the imported store keeps versioning from where the export left off
    assert target.update(U1, "diet", content={"fact": "pescatarian"}).version == 3


def test_import_with_another_embedder_embeds_every_text_once(tmp_path, suffix):
    source = filled()
    source.export(tmp_path / f"backup.{suffix}")
    other = Counting("test:other", dim=6)
    target = MemoryStore.in_memory(embedder=other)

    report = target.import_(tmp_path / f"backup.{suffix}")

    texts = set(everything(source)["text"])
    assert report.reembedded == len(texts) == other.texts
    pd.testing.assert_frame_equal(everything(target), everything(source))
    vectors = all_vectors(target)
    assert {len(v) for v in vectors.values()} == {6}
    rec = target.get(U2, "lang")
    assert vectors[(U2, "lang")] == pytest.approx(Counting(dim=6).embed([rec.text])[0])
    assert target.search(U2, "programming language: Python")[0].id == "lang"


def test_persistent_round_trip_survives_reopening(tmp_path):
    source = filled()
    source.export(tmp_path / "backup.jsonl")
    emb = Counting()
    with MemoryStore.persistent(tmp_path / "db", embedder=emb) as target:
        target.import_(tmp_path / "backup.jsonl")
    with MemoryStore.persistent(tmp_path / "db", embedder=emb) as reopened:
        pd.testing.assert_frame_equal(everything(reopened), everything(source))


def test_export_selects_namespaces_by_prefix_and_leaves_bookkeeping_out(tmp_path):
    source = filled()
    source.put(("memories", "u10"), "x", "not under u1")
    assert source.export(tmp_path / "u1.jsonl", [U1]).namespaces == [U1]  # part-wise, not ("memories", "u10")
    assert source.export(tmp_path / "two.jsonl", ["notes", U2]).namespaces == [U2, NOTES]
    assert source.export(tmp_path / "all.jsonl").namespaces == [U1, ("memories", "u10"), U2, NOTES]
    assert LEDGER in source.export(tmp_path / "internal.jsonl", include_internal=True).namespaces
    lines = (tmp_path / "all.jsonl").read_text().splitlines()
    assert not any("engram.processed" in line for line in lines[1:])
    manifest = json.loads(lines[0])["manifest"]
    assert manifest["embedder"] == "test:count" and manifest["dimension"] == 4
    assert manifest["format"] == "engram.memory-export" and manifest["format_version"] == 1


def test_internal_namespaces_are_one_rule_everywhere():
    store = filled()
    store.put(("memories", "Engram.Compaction"), "k", "bookkeeping")
    assert is_internal(LEDGER) and is_internal(("memories", "Engram.Compaction"))
    assert not is_internal(("engramx", "u1"))
    assert store.list_namespaces() == [U1, U2, NOTES]
    assert set(store.list_namespaces(include_internal=True)) == {U1, U2, NOTES, LEDGER,
                                                                 ("memories", "Engram.Compaction")}
    assert not any(is_internal(ns) for ns in store.to_frame()["namespace"])
    assert LEDGER in set(store.to_frame(include_internal=True)["namespace"])


def test_to_frame_one_row_per_memory():
    store = filled()
    frame = store.to_frame()
    assert list(frame.columns[:3]) == ["namespace", "path", "key"]
    assert {"kind", "content", "text", "metadata", "created_at", "updated_at", "version",
            "provenance", "deleted"} <= set(frame.columns)
    assert list(zip(frame["path"], frame["key"])) == [("memories/u1", "diet"), ("memories/u1", "tea"),
                                                      ("memories/u2", "lang"), ("notes", "n1")]
    diet = frame.iloc[0]
    assert diet["namespace"] == U1 and diet["content"] == {"fact": "vegan"} and diet["version"] == 2
    assert diet["metadata"] == {"topic": "food", "confidence": 0.9}
    assert diet["provenance"] == [{"trajectory_id": "t2"}]
    assert str(frame["created_at"].dtype).endswith(", UTC]")  # tz-aware timestamps, not strings
    assert list(store.to_frame(U1, include_deleted=True)["key"]) == ["city", "diet", "tea"]
    hist = store.to_frame(U1, history=True)
    assert list(zip(hist["key"], hist["version"], hist["current"])) == [
        ("diet", 1, False), ("diet", 2, True), ("tea", 1, False), ("tea", 2, False), ("tea", 3, True)]
    empty = store.to_frame(("nobody",))
    assert empty.empty and list(empty.columns) == list(frame.columns)


def test_conflicts_error_skip_replace(tmp_path):
    filled().export(tmp_path / "backup.jsonl")
    target = MemoryStore.in_memory(embedder=Counting())
    target.put(U1, "diet", "eats everything")
    target.update(U1, "diet", content="eats fish")

    with pytest.raises(ConflictError, match="diet.*nothing was imported"):
        target.import_(tmp_path / "backup.jsonl")
    assert target.list_namespaces() == [U1] and target.to_frame()["key"].tolist() == ["diet"]

    skipped = target.import_(tmp_path / "backup.jsonl", on_conflict="skip")
    assert skipped.skipped == [(U1, "diet")] and skipped.memories == 4
    assert target.get(U1, "diet").content == "eats fish"

    replaced = target.import_(tmp_path / "backup.jsonl", on_conflict="replace")
    assert sorted(replaced.replaced) == sorted(KEYS)
    assert [r.content for r in target.history(U1, "diet")] == ["vegetarian", {"fact": "vegan"}]
    with pytest.raises(ValidationError, match="on_conflict"):
        target.import_(tmp_path / "backup.jsonl", on_conflict="merge")


def test_a_failed_write_puts_everything_back(tmp_path, monkeypatch):
    filled().export(tmp_path / "backup.jsonl")
    target = MemoryStore.in_memory(embedder=Counting())
    target.put(U2, "lang", "prefers Rust")
    target.update(U2, "lang", content="prefers Go")
    before = everything(target)
    real, calls = type(target)._put_rows, []

    def flaky(self, ns, col, hist, cur):
        calls.append(ns)
        if len(calls) == 3:  # U1 and U2 are written, then NOTES fails
            raise StoreError("disk full (simulated)")
        return real(self, ns, col, hist, cur)

    monkeypatch.setattr(type(target), "_put_rows", flaky)
    with pytest.raises(StoreError, match="simulated"):
        target.import_(tmp_path / "backup.jsonl", on_conflict="replace")
    monkeypatch.setattr(type(target), "_put_rows", real)
    pd.testing.assert_frame_equal(everything(target), before)
    assert [r.content for r in target.history(U2, "lang")] == ["prefers Rust", "prefers Go"]


def _lines(tmp_path):
    filled().export(tmp_path / "good.jsonl")
    return [json.loads(line) for line in (tmp_path / "good.jsonl").read_text().splitlines()]


def _break(rows, what):
    last = rows[-1]
    if what == "manifest":
        return [rows[1], *rows[1:]], "first line must be the manifest"
    if what == "format":
        rows[0]["manifest"]["format"] = "langmem"
        return rows, "format"
    if what == "future":
        rows[0]["manifest"]["format_version"] = 99
        return rows, "upgrade engram"
    if what == "missing key":
        del last["key"]
        return rows, "missing 'key'"
    if what == "namespace":
        last["namespace"] = ["memories", ""]
        return rows, "empty"
    if what == "metadata":
        last["metadata"] = {"_kind": "x"}
        return rows, "reserves"
    if what == "vector":
        last["vector"] = [1.0, 2.0]
        return rows, "dimension is 4"
    if what == "version twice":
        rows.append(dict(last))
        return rows, "twice"
    if what == "two current":
        rows[-2] = {**rows[-2], "namespace": last["namespace"], "key": last["key"], "version": 99,
                    "current": False}
        return rows, "exactly one row with current=true"
    if what == "timestamp":
        last["created_at"] = "yesterday"
        return rows, "not a memory record"
    if what == "unknown field":
        last["colour"] = "blue"
        return rows, "colour"
    if what == "content":
        last["content"] = 42
        return rows, "content must be"
    raise AssertionError(what)


BREAKS = ["manifest", "format", "future", "missing key", "namespace", "metadata", "vector", "version twice",
          "two current", "timestamp", "unknown field", "content"]


@pytest.mark.parametrize("what", BREAKS)
def test_a_bad_file_is_refused_whole_and_writes_nothing(tmp_path, what):
    rows, problem = _break(_lines(tmp_path), what)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    target = MemoryStore.in_memory(embedder=Counting())
    target.put(("keep",), "k", "already here")
    before = everything(target)

    with pytest.raises(ValidationError, match=problem) as err:
        target.import_(bad)

    assert str(bad) in str(err.value)
    if what not in {"format", "future"}:
        line = {"manifest": 1, "two current": len(rows) - 1}.get(what, len(rows))  # the broken line
        assert str(err.value).startswith(f"{bad}:{line}: ")
    pd.testing.assert_frame_equal(everything(target), before)
    assert target.list_namespaces() == [("keep",)]


def test_bad_parquet_and_unknown_suffixes_are_refused(tmp_path):
    store = filled()
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(ValidationError, match="not a readable Parquet"):
        store.import_(tmp_path / "junk.parquet")
    filled().to_frame().astype(str).to_parquet(tmp_path / "plain.parquet")
    with pytest.raises(ValidationError, match="manifest"):
        store.import_(tmp_path / "plain.parquet")
    with pytest.raises(ValidationError, match=r"\.jsonl or \*\.parquet"):
        store.export(tmp_path / "backup.csv")
    assert not (tmp_path / "backup.csv").exists()
    with pytest.raises(ValidationError, match="no such export file"):
        store.import_(tmp_path / "missing.jsonl")


def test_parquet_rows_are_named_in_errors(tmp_path):
    import pyarrow.parquet as pq

    filled().export(tmp_path / "good.parquet")
    table = pq.read_table(tmp_path / "good.parquet")
    versions = table.column("version").to_pylist()
    versions[2] = 0
    import pyarrow as pa

    broken = table.set_column(table.schema.get_field_index("version"), "version", pa.array(versions))
    pq.write_table(broken, tmp_path / "bad.parquet")
    target = MemoryStore.in_memory(embedder=Counting())
    with pytest.raises(ValidationError, match=r"bad.parquet row 3: field 'version'"):
        target.import_(tmp_path / "bad.parquet")
    assert target.list_namespaces() == []
