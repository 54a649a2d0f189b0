"""Micro-batching: concurrent callers share one call of the model; each gets its own results."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from engram.store import Embedder, MemoryStore, MicroBatcher

WAIT = 30  # seconds: a bound against hanging, never a timing assertion


class Gate:
    """A batched function whose first call waits until released, so later requests pile up."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, items: list[str]) -> list[str]:
        self.calls.append(list(items))
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(WAIT)
        if any(item.startswith("bad") for item in items):
            raise ValueError("bad input")
        return [item.upper() for item in items]


def _queued(batcher: MicroBatcher, count: int) -> None:
    for _ in range(WAIT * 100):
        with batcher._cond:
            if len(batcher._queue) >= count:
                return
        threading.Event().wait(0.01)
    raise AssertionError("requests never queued")


def test_requests_that_arrive_during_a_call_go_into_the_next_call_together():
    gate = Gate()
    batcher = MicroBatcher(gate)
    first = batcher.submit(["a"])
    assert gate.entered.wait(WAIT)
    later = [batcher.submit([f"x{i}", f"y{i}"]) for i in range(5)]
    _queued(batcher, 5)
    gate.release.set()
    assert first.result(WAIT) == ["A"]
    assert [f.result(WAIT) for f in later] == [[f"X{i}", f"Y{i}"] for i in range(5)]
    assert gate.calls[1] == [t for i in range(5) for t in (f"x{i}", f"y{i}")]  # one call for all five
    assert (batcher.calls, batcher.items) == (2, 11)


def test_max_batch_splits_between_requests_never_inside_one():
    gate = Gate()
    batcher = MicroBatcher(gate, max_batch=3)
    batcher.submit(["first"])
    assert gate.entered.wait(WAIT)
    futures = [batcher.submit(["a", "b"]), batcher.submit(["c", "d"]), batcher.submit(["e", "f", "g", "h"])]
    _queued(batcher, 3)
    gate.release.set()
    assert [f.result(WAIT) for f in futures] == [["A", "B"], ["C", "D"], ["E", "F", "G", "H"]]
    assert gate.calls[1:] == [["a", "b"], ["c", "d"], ["e", "f", "g", "h"]]


def test_a_bad_request_fails_only_its_caller():
    gate = Gate()
    batcher = MicroBatcher(gate)
    batcher.submit(["warm"])
    assert gate.entered.wait(WAIT)
    good, bad, other = batcher.submit(["ok"]), batcher.submit(["bad one"]), batcher.submit(["fine"])
    _queued(batcher, 3)
    gate.release.set()
    assert good.result(WAIT) == ["OK"] and other.result(WAIT) == ["FINE"]
    with pytest.raises(ValueError, match="bad input"):
        bad.result(WAIT)


def test_a_wrong_number_of_results_is_an_error_not_a_misrouted_vector():
    batcher = MicroBatcher(lambda items: items[:-1])
    with pytest.raises(RuntimeError, match="returned 1 results for 2"):
        batcher(["a", "b"])


def test_the_worker_exits_when_idle_and_a_later_call_starts_another():
    batcher = MicroBatcher(lambda items: list(items), idle=0.01)
    assert batcher(["a"]) == ["a"]
    for _ in range(WAIT * 100):
        if batcher._worker is None:
            break
        threading.Event().wait(0.01)
    assert batcher._worker is None
    assert batcher(["b"]) == ["b"]


def test_acall_leaves_the_event_loop_free_while_the_model_runs():
    release = threading.Event()

    def model(items: list[str]) -> list[int]:
        assert release.wait(WAIT)  # released by a coroutine: only possible if the loop runs meanwhile
        return [len(i) for i in items]

    batcher = MicroBatcher(model)

    async def main() -> list[int]:
        task = asyncio.create_task(batcher.acall(["abc"]))
        await asyncio.sleep(0)
        release.set()
        return await asyncio.wait_for(task, WAIT)

    assert asyncio.run(main()) == [3]


class Counting(Embedder):
    """A stand-in embedder that counts model calls (micro-batched like the MiniLM ones)."""

    spec = "test:counting"
    microbatch = True

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def _embed(self, texts: list[str]) -> list[list[float]]:
        self.batches.append(len(texts))
        if len(self.batches) == 1:
            self.started.set()
            assert self.release.wait(WAIT)
        return [[float(len(t)), 1.0] for t in texts]


def test_a_microbatched_embedder_merges_threads_and_returns_each_its_own_vectors():
    emb = Counting()
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(emb.embed, ["x"])
        assert emb.started.wait(WAIT)
        rest = [pool.submit(emb.embed, ["a" * i]) for i in range(1, 8)]
        _queued(emb._microbatcher(), 7)
        emb.release.set()
        assert first.result(WAIT)[0][0] > 0
        for i, future in enumerate(rest, start=1):
            (vector,) = future.result(WAIT)
            assert vector[0] / vector[1] == pytest.approx(i)  # its own text's vector (normalized)
    assert emb.batches == [1, 7]
    assert asyncio.run(emb.aembed(["abcd"]))[0][0] / asyncio.run(emb.aembed(["abcd"]))[0][1] == pytest.approx(4)


def test_ledger_marks_from_many_threads_are_all_recorded():
    store = MemoryStore.in_memory(embedder=Counting())
    namespaces = [("memories", f"u{i}") for i in range(12)]

    def mark(ns: tuple[str, str]) -> None:
        store.ledger(ns).mark([f"t-{ns[1]}-{k}" for k in range(3)], {"written": 1})

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(mark, namespaces))
    for ns in namespaces:
        ledger = store.ledger(ns)
        assert ledger.has([f"t-{ns[1]}-{k}" for k in range(4)]) == {f"t-{ns[1]}-{k}" for k in range(3)}
        assert ledger.get(f"t-{ns[1]}-0")["written"] == 1
    assert store.list_namespaces() == []  # bookkeeping is not memories


def test_a_repeated_id_in_concurrent_marks_is_kept_once():
    store = MemoryStore.in_memory(embedder=Counting())
    ledger = store.ledger(("memories", "u1"))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda k: ledger.mark(["same"], {"n": k}), range(8)))
    assert ledger.ids() == ["same"]


def test_a_cached_batcher_computes_an_item_shared_by_queued_requests_once():
    gate = Gate()
    batcher = MicroBatcher(gate, cache=8)
    batcher.submit(["first"])
    assert gate.entered.wait(WAIT)
    futures = [batcher.submit(["same", f"own{i}", "same"]) for i in range(3)]
    _queued(batcher, 3)
    gate.release.set()
    assert [f.result(WAIT) for f in futures] == [["SAME", f"OWN{i}", "SAME"] for i in range(3)]
    assert gate.calls[1] == ["same", "own0", "own1", "own2"]  # each distinct item once
    assert batcher.hits == 5 and batcher.items == 5


def test_a_request_the_cache_holds_is_answered_without_a_call_and_each_caller_gets_a_copy():
    calls = []

    def fn(items):
        calls.append(list(items))
        return [[len(t), 1.0] for t in items]

    batcher = MicroBatcher(fn, cache=2, freeze=tuple, thaw=list)
    first = batcher(["ab", "abc"])
    first[0].append("changed by a caller")
    assert batcher(["abc", "ab"]) == [[3, 1.0], [2, 1.0]]  # what the model returned, not the caller's edit
    assert calls == [["ab", "abc"]]
    batcher(["abcd"])  # a third distinct item: the least recently used one ("abc") goes
    batcher(["ab"])
    assert calls == [["ab", "abc"], ["abcd"]]
    batcher(["abc"])
    assert calls[-1] == ["abc"]


def test_a_bad_request_fails_only_its_caller_with_a_cache_too():
    gate = Gate()
    batcher = MicroBatcher(gate, cache=8)
    batcher.submit(["first"])
    assert gate.entered.wait(WAIT)
    good, bad = batcher.submit(["ok", "shared"]), batcher.submit(["bad", "shared"])
    _queued(batcher, 2)
    gate.release.set()
    assert good.result(WAIT) == ["OK", "SHARED"]
    with pytest.raises(ValueError):
        bad.result(WAIT)
    assert batcher(["ok"]) == ["OK"] and len(gate.calls) == 4  # first, merged (failed), then each alone


def test_the_default_embedder_does_not_embed_a_text_it_embedded_lately():
    emb = Counting()
    emb.release.set()
    one = emb.embed(["prefers email", "lives in Lyon"])
    two = emb.embed(["lives in Lyon"])
    assert two == [one[1]] and two[0] is not one[1]
    assert emb.batches == [2]


def test_forget_empties_the_cache():
    calls = []
    batcher = MicroBatcher(lambda items: calls.append(list(items)) or [t.upper() for t in items], cache=4)
    assert batcher(["a"]) == batcher(["a"]) == ["A"] and len(calls) == 1 and batcher.hits == 1
    batcher.forget()
    assert (batcher.hits, batcher.items) == (0, 0)
    assert batcher(["a"]) == ["A"] and len(calls) == 2


def test_a_lone_blocking_caller_runs_the_call_itself_and_later_arrivals_merge_after_it():
    threads = []
    gate = Gate()

    def fn(items):
        threads.append(threading.current_thread())
        return gate(items)

    batcher = MicroBatcher(fn)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher, ["a"])
        assert gate.entered.wait(WAIT)
        later = [pool.submit(batcher, [f"x{i}"]) for i in range(3)]
        _queued(batcher, 3)  # they wait for the running call, they do not start their own
        gate.release.set()
        assert first.result(WAIT) == ["A"] and [f.result(WAIT) for f in later] == [["X0"], ["X1"], ["X2"]]
    # one merged call after the running one (the pool's threads may enqueue in any order)
    assert gate.calls[0] == ["a"] and sorted(gate.calls[1]) == ["x0", "x1", "x2"] and len(gate.calls) == 2
    assert threads[0].name != "engram-microbatch" and threads[1].name == "engram-microbatch"
    loop_thread = []

    async def on_loop():
        loop_thread.append(threading.current_thread())
        return await batcher.acall(["b"])

    assert asyncio.run(on_loop()) == ["B"]
    assert threads[-1] is not loop_thread[0]  # never on the event loop's thread
