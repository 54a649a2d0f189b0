"""A corpus of wrong inputs for every public store entry point (issue 11 item 13, issue 14).

Each case must raise an ``engram.EngramError`` whose message names what was wrong
(the regex), and leave the store exactly as it was. Counts per entry point:

    python -m tests.store.test_bad_input_corpus
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

import engram

NS = ("memories", "u1")
OTHER = ("memories", "u2")

BAD_NAMESPACES = [
    (None, "namespace"), (5, "namespace"), ((), "at least one part"), (("a", ""), "empty"),
    (("a", 1), "not str"), (("{user_id}",), "template field"), (("memories", "{user_id"), "brace"),
    (["a", None], "not str"), (("x" * 300,), "longer than"), (tuple(["a"] * 17), "at most"),
    (b"memories", "namespace"), ({"user": "u1"}, "namespace"), (("memories", "u\ud83c"), "part 1 holds"),
]
HALF_EMOJI = "half of a UTF-16 surrogate pair"  # a string cut in the middle of an emoji: not text
BAD_KEYS = [(5, "key"), ("", "key"), ("   ", "key"), ("x" * 513, "longer than 512"), (["k"], "key"),
            ("k\udf89", HALF_EMOJI),
            (b"k", "key"), (1.5, "key"), (("k",), "key")]
BAD_LIMITS = [(0, "limit"), (-1, "limit"), ("10", "limit"), (2.5, "limit"), (True, "limit"), (None, "limit")]
BAD_OFFSETS = [(-1, "offset"), ("0", "offset"), (1.5, "offset"), (None, "offset")]
BAD_FLAGS = [("yes", "include_deleted"), (1, "include_deleted"), (None, "include_deleted")]
BAD_KINDS = [(5, "kind"), ("", "kind"), ("  ", "kind"), ("k" * 201, "kind"), (["memory"], "kind"),
             ("memo\ud83c", HALF_EMOJI)]
BAD_METADATA = [
    ("str", "metadata must be a dict"), (["a"], "metadata must be a dict"), ({"x": {"y": 1}}, "nested dict"),
    ({"_kind": "x"}, "reserves"), ({"x": float("nan")}, "finite"), ({"x": math.inf}, "finite"),
    ({"x": 2**63}, "64-bit"), ({"x": -(2**63) - 1}, "64-bit"), ({"x": [1, 2**70]}, "64-bit"),
    ({"x": ["a", 1]}, "mixes"), ({"x": object()}, "metadata 'x'"), ({1: "a"}, "metadata key"),
    ({"x": [float("nan")]}, "finite"), ({f"k{i}": i for i in range(65)}, "limit is 64"),
    ({"$and": 1}, "'\\$', which Chroma reserves"), ({"#document": "x"}, "'#', which Chroma reserves"),
    ({"chroma:note": "x"}, "'chroma:', which Chroma reserves"), ({"x": "\ud83c"}, HALF_EMOJI),
    ({"x": ["a", "\ud83c"]}, HALF_EMOJI), ({"\ud83c": "x"}, HALF_EMOJI),
]
BAD_CONTENT = [
    ({"score": float("nan")}, "NaN or Infinity"), ({"n": math.inf}, "NaN or Infinity"),
    ({"n": [1, -math.inf]}, "NaN or Infinity"), ("", "empty string"), ("   ", "empty string"),
    (5, "content must be"), (["a"], "content must be"), (b"bytes", "content must be"),
    ({"o": object()}, "JSON-serializable"), ("x" * 70_000, "over the store's limit"),
    ("cut \ud83c", HALF_EMOJI), ({"note": ["cut \ud83c"]}, HALF_EMOJI),
]
BAD_PROVENANCE = [(5, "provenance"), (3.5, "provenance"), ([5], "provenance"), ({"trajectory_id": 5}, "provenance"),
                  ({"colour": "red"}, "provenance"), ([""], "empty trajectory id"), (object(), "provenance")]
BAD_VERSIONS = [(-1, "expected_version"), ("1", "expected_version"), (1.0, "expected_version"),
                (True, "expected_version")]


def _cases() -> dict[str, list[tuple[str, object, str]]]:
    """entry point -> [(label, fn(store), message regex)]."""
    c: dict[str, list] = {k: [] for k in ("put", "put_many", "get", "search", "list", "count", "update",
                                          "mutate", "delete", "purge", "list_namespaces", "history", "restore")}

    def add(entry, label, fn, msg):
        c[entry].append((label, fn, msg))

    for ns, msg in BAD_NAMESPACES:
        add("put", f"ns={ns!r}", lambda s, ns=ns: s.put(ns, "k", "x"), msg)
        add("put_many", f"ns={ns!r}", lambda s, ns=ns: s.put_many(ns, [{"content": "x"}]), msg)
        add("get", f"ns={ns!r}", lambda s, ns=ns: s.get(ns, "k"), msg)
        add("search", f"ns={ns!r}", lambda s, ns=ns: s.search(ns, "x"), msg)
        add("list", f"ns={ns!r}", lambda s, ns=ns: s.list(ns), msg)
        add("count", f"ns={ns!r}", lambda s, ns=ns: s.count(ns), msg)
        add("update", f"ns={ns!r}", lambda s, ns=ns: s.update(ns, "k", content="y"), msg)
        add("mutate", f"ns={ns!r}", lambda s, ns=ns: s.mutate(ns, "k", lambda r: {"content": "y"}), msg)
        add("delete", f"ns={ns!r}", lambda s, ns=ns: s.delete(ns, "k"), msg)
        add("purge", f"ns={ns!r}", lambda s, ns=ns: s.purge(ns), msg)
        add("history", f"ns={ns!r}", lambda s, ns=ns: s.history(ns, "k"), msg)
        add("restore", f"ns={ns!r}", lambda s, ns=ns: s.restore(ns, "k", 1), msg)
        if ns is not None:  # None is "no prefix"
            add("list_namespaces", f"prefix={ns!r}", lambda s, ns=ns: s.list_namespaces(ns), msg)
    for key, msg in BAD_KEYS:
        add("put", f"key={key!r}", lambda s, key=key: s.put(NS, key, "x"), msg)
        add("put_many", f"key={key!r}", lambda s, key=key: s.put_many(NS, [{"key": key, "content": "x"}]), msg)
        add("get", f"key={key!r}", lambda s, key=key: s.get(NS, key), msg)
        add("update", f"key={key!r}", lambda s, key=key: s.update(NS, key, content="y"), msg)
        add("mutate", f"key={key!r}", lambda s, key=key: s.mutate(NS, key, lambda r: {"content": "y"}), msg)
        add("delete", f"key={key!r}", lambda s, key=key: s.delete(NS, key), msg)
        add("purge", f"key={key!r}", lambda s, key=key: s.purge(NS, key), msg)
        add("history", f"key={key!r}", lambda s, key=key: s.history(NS, key), msg)
        add("restore", f"key={key!r}", lambda s, key=key: s.restore(NS, key, 1), msg)
        add("search", f"keys=[{key!r}]", lambda s, key=key: s.search(NS, "x", keys=[key]), msg)
    for value, msg in BAD_CONTENT:
        add("put", f"content={str(value)[:30]}", lambda s, v=value: s.put(NS, "k", v), msg)
        add("put_many", f"content={str(value)[:30]}", lambda s, v=value: s.put_many(
            NS, [{"key": "new", "content": "fine"}, {"key": "k", "content": v}]), msg)
        add("update", f"content={str(value)[:30]}", lambda s, v=value: s.update(NS, "k", content=v), msg)
        add("mutate", f"content={str(value)[:30]}", lambda s, v=value: s.mutate(NS, "k", lambda r: {"content": v}), msg)
    for value, msg in BAD_METADATA:
        add("put", f"metadata={str(value)[:30]}", lambda s, v=value: s.put(NS, "k", "x", metadata=v), msg)
        add("put_many", f"metadata={str(value)[:30]}", lambda s, v=value: s.put_many(
            NS, [{"key": "k", "content": "x", "metadata": v}]), msg)
        add("update", f"metadata={str(value)[:30]}", lambda s, v=value: s.update(NS, "k", metadata=v), msg)
    for value, msg in BAD_PROVENANCE:
        add("put", f"provenance={value!r}", lambda s, v=value: s.put(NS, "k", "x", provenance=v), msg)
        add("put_many", f"provenance={value!r}", lambda s, v=value: s.put_many(
            NS, [{"key": "k", "content": "x", "provenance": v}]), msg)
        add("update", f"provenance={value!r}", lambda s, v=value: s.update(NS, "k", provenance=v), msg)
    for value, msg in BAD_KINDS:
        add("put", f"kind={value!r}", lambda s, v=value: s.put(NS, "k", "x", kind=v), msg)
        add("update", f"kind={value!r}", lambda s, v=value: s.update(NS, "k", kind=v), msg)
        add("search", f"kind={value!r}", lambda s, v=value: s.search(NS, "x", kind=v), msg)
        add("list", f"kind={value!r}", lambda s, v=value: s.list(NS, kind=v), msg)
        add("count", f"kind={value!r}", lambda s, v=value: s.count(NS, kind=v), msg)
    for value, msg in BAD_VERSIONS:
        add("put", f"expected_version={value!r}", lambda s, v=value: s.put(NS, "k", "x", expected_version=v), msg)
        add("put_many", f"expected_version={value!r}", lambda s, v=value: s.put_many(
            NS, [{"key": "k", "content": "x", "expected_version": v}]), msg)
        add("update", f"expected_version={value!r}", lambda s, v=value: s.update(NS, "k", content="y",
                                                                                 expected_version=v), msg)
    for value, msg in BAD_LIMITS:
        for entry, fn in (("search", lambda s, v: s.search(NS, "x", limit=v)), ("list", lambda s, v: s.list(NS, limit=v)),
                          ("list_namespaces", lambda s, v: s.list_namespaces(limit=v))):
            add(entry, f"limit={value!r}", lambda s, v=value, fn=fn: fn(s, v), msg)
    for value, msg in BAD_OFFSETS:
        for entry, fn in (("search", lambda s, v: s.search(NS, "x", offset=v)), ("list", lambda s, v: s.list(NS, offset=v)),
                          ("list_namespaces", lambda s, v: s.list_namespaces(offset=v))):
            add(entry, f"offset={value!r}", lambda s, v=value, fn=fn: fn(s, v), msg)
    for value, msg in BAD_FLAGS:
        add("get", f"include_deleted={value!r}", lambda s, v=value: s.get(NS, "k", include_deleted=v), msg)
        add("search", f"include_deleted={value!r}", lambda s, v=value: s.search(NS, "x", include_deleted=v), msg)
        add("list", f"include_deleted={value!r}", lambda s, v=value: s.list(NS, include_deleted=v), msg)
        add("count", f"include_deleted={value!r}", lambda s, v=value: s.count(NS, include_deleted=v), msg)
        add("delete", f"hard={value!r}", lambda s, v=value: s.delete(NS, "k", hard=v), "hard")
    for value, msg in [(5, "query"), ("", "query"), ("  ", "query"), (["x"], "query"), (b"x", "query"),
                       ("\ud83c", HALF_EMOJI)]:
        add("search", f"query={value!r}", lambda s, v=value: s.search(NS, v), msg)
    for value, msg in [("topic=food", "filter must be a dict"), ({"a": {"$regex": "x"}}, "unknown operator"),
                       ({"a": 2**64}, "64-bit"), ({"a": float("nan")}, "finite"), ({"_kind": "x"}, "reserved")]:
        add("search", f"filter={value!r}", lambda s, v=value: s.search(NS, "x", filter=v), msg)
        add("list", f"filter={value!r}", lambda s, v=value: s.list(NS, filter=v), msg)
    for value, msg in [("k", "keys must be a list"), (5, "keys must be a list"), ({"k": 1}, "keys must be a list")]:
        add("search", f"keys={value!r}", lambda s, v=value: s.search(NS, "x", keys=v), msg)
    for value, msg in [(None, "items must be a list"), ("abc", "items must be a list"), (5, "items must be a list"),
                       ({"content": "x"}, "wrap a single item"), ([None], "item 0"), (["text"], "item 0"),
                       ([{"content": "x", "colour": "red"}], "unknown keys"), ([{"key": "k"}], "no content"),
                       ([{"key": "a", "content": "1"}, {"key": "a", "content": "2"}], "twice"),
                       ([{"key": "k", "id": "j", "content": "x"}], "either 'key' or 'id'"),
                       ([{"key": "k", "content": "x", "text": 5}], "text")]:
        add("put_many", f"items={str(value)[:40]}", lambda s, v=value: s.put_many(NS, v), msg)
    for value, msg in [(5, "text"), ("", "text"), ("  ", "text"), (["t"], "text")]:
        add("put", f"text={value!r}", lambda s, v=value: s.put(NS, "k", "x", text=v), msg)
        add("update", f"text={value!r}", lambda s, v=value: s.update(NS, "k", text=v), msg)
    for label, fn, msg in [
        ("no changes", lambda s: s.update(NS, "k"), "at least one field"),
        ("content=None", lambda s: s.update(NS, "k", content=None), "delete"),
        ("unknown field", lambda s: s.update(NS, "k", colour="red"), "unknown field"),
        ("missing key", lambda s: s.update(NS, "nope", content="y"), "no memory 'nope'"),
        ("deleted key", lambda s: s.update(NS, "gone", content="y"), "no memory 'gone'"),
        ("stale version", lambda s: s.update(NS, "k", content="y", expected_version=1), "version 2, not 1"),
    ]:
        add("update", label, fn, msg)
    for label, fn, msg in [
        ("fn=None", lambda s: s.mutate(NS, "k", None), "fn"), ("fn='x'", lambda s: s.mutate(NS, "k", "content"), "fn"),
        ("returns list", lambda s: s.mutate(NS, "k", lambda r: ["content"]), "must be a dict"),
        ("returns str", lambda s: s.mutate(NS, "k", lambda r: "y"), "must be a dict"),
        ("unknown field", lambda s: s.mutate(NS, "k", lambda r: {"colour": "red"}), "unknown field"),
        ("metadata str", lambda s: s.mutate(NS, "k", lambda r: {"metadata": "str"}), "metadata must be a dict"),
        ("missing key", lambda s: s.mutate(NS, "nope", lambda r: {"content": "y"}), "no memory 'nope'"),
        ("expected_version=0", lambda s: s.mutate(NS, "k", lambda r: {}, expected_version=0), "expected_version"),
    ]:
        add("mutate", label, fn, msg)
    for label, fn, msg in [("missing key", lambda s: s.delete(NS, "nope"), "no live memory 'nope'"),
                           ("already deleted", lambda s: s.delete(NS, "gone"), "no live memory 'gone'"),
                           ("hard, missing", lambda s: s.delete(NS, "nope", hard=True), "no memory 'nope'"),
                           ("other tenant's key", lambda s: s.delete(OTHER, "k"), "no live memory 'k'")]:
        add("delete", label, fn, msg)
    for value, msg in [(0, "version"), (-1, "version"), ("1", "version"), (1.0, "version"), (True, "version"),
                       (None, "version"), (99, "no version 99")]:
        add("restore", f"version={value!r}", lambda s, v=value: s.restore(NS, "k", v), msg)
    add("restore", "never stored", lambda s: s.restore(NS, "nope", 1), "no memory 'nope'")
    for value, msg in [(0, "max_depth"), (-1, "max_depth"), ("2", "max_depth"), (True, "max_depth"), (1.5, "max_depth")]:
        add("list_namespaces", f"max_depth={value!r}", lambda s, v=value: s.list_namespaces(max_depth=v), msg)
    for key, msg in [(None, "key"), (None, "key")][:1]:
        for entry, fn in (("get", lambda s: s.get(NS, None)), ("history", lambda s: s.history(NS, None)),
                          ("delete", lambda s: s.delete(NS, None)), ("restore", lambda s: s.restore(NS, None, 1)),
                          ("update", lambda s: s.update(NS, None, content="y"))):
            add(entry, "key=None", fn, msg)
    add("history", "key=0", lambda s: s.history(NS, 0), "key")
    add("count", "kind=0", lambda s: s.count(NS, kind=0), "kind")
    add("count", "include_deleted='no'", lambda s: s.count(NS, include_deleted="no"), "include_deleted")
    add("purge", "key=0", lambda s: s.purge(NS, 0), "key")
    add("purge", "key={}", lambda s: s.purge(NS, {}), "key")
    return c


CASES = _cases()


def counts() -> dict[str, int]:
    return dict(Counter({entry: len(cases) for entry, cases in CASES.items()}))


def _snapshot(store) -> list:
    state = []
    for ns in store.list_namespaces():
        for rec in store.list(ns, include_deleted=True, limit=1000):
            state.append((ns, rec.id, [(h.version, h.content, h.metadata, h.deleted, [p.model_dump() for p in h.provenance])
                                       for h in store.history(ns, rec.id)]))
    return state


@pytest.fixture(scope="module")
def seeded(embedder):
    from engram.store import MemoryStore

    with MemoryStore.in_memory(embedder=embedder) as store:
        store.put(NS, "k", "likes tea", metadata={"topic": "drink"})
        store.put(NS, "k", "likes green tea", metadata={"topic": "drink"}, provenance="t1")
        store.put(NS, "gone", "old fact")
        store.delete(NS, "gone")
        store.put(OTHER, "j", {"fact": "lives in Porto"})
        yield store


def test_every_entry_point_has_at_least_20_bad_inputs():
    print("\nbad inputs per store entry point:", counts())
    assert all(n >= 20 for n in counts().values()), counts()


@pytest.mark.parametrize("entry", sorted(CASES))
def test_bad_inputs_raise_clear_engram_errors_and_change_nothing(seeded, entry):
    before = _snapshot(seeded)
    wrong = []
    for label, fn, pattern in CASES[entry]:
        try:
            fn(seeded)
        except engram.EngramError as err:
            import re

            if not re.search(pattern, str(err)):
                wrong.append(f"{label}: message {str(err)[:160]!r} does not match {pattern!r}")
        except Exception as err:  # noqa: BLE001 - the point: nothing but EngramError
            wrong.append(f"{label}: raised {type(err).__name__}: {str(err)[:160]}")
        else:
            wrong.append(f"{label}: accepted")
        assert _snapshot(seeded) == before, f"{entry} {label} changed the store"
    assert not wrong, "\n".join(wrong)


def test_list_namespaces_limit_minus_one_is_an_error_not_one_fewer(seeded):
    assert seeded.list_namespaces() == [NS, OTHER]
    with pytest.raises(engram.ValidationError, match="limit"):
        seeded.list_namespaces(limit=-1)


def test_big_ints_and_nan_are_refused_but_int64_edges_round_trip(seeded):
    rec = seeded.put(("edge",), "n", {"big": 2**70}, metadata={"max": 2**63 - 1, "min": -(2**63)})
    back = seeded.get(("edge",), "n")
    assert back.metadata == {"max": 2**63 - 1, "min": -(2**63)} and isinstance(back.metadata["max"], int)
    assert back.content == {"big": 2**70}   # content is JSON text: any int survives
    assert rec.version == 1
    seeded.purge(("edge",))


if __name__ == "__main__":
    for entry, n in sorted(counts().items()):
        print(f"{entry:16s} {n}")
    print(f"{'total':16s} {sum(counts().values())}")
