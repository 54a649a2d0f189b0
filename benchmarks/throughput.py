"""Memory-update throughput: engram's own time per update, and how close process() gets to the LM limit.

    python benchmarks/throughput.py                    # the default store's embedder (MiniLM)
    python benchmarks/throughput.py --embedder hash    # a word-hash stand-in: framework time without the model
    python benchmarks/throughput.py --quick            # 64 trajectories over 8 users
    python benchmarks/throughput.py --processes --skip-framework --skip-efficiency   # 1 vs 2 processes only

Data: 256 support conversations over 32 simulated users (8 each, in time order); the LM is
the offline simulated world (``engram.testing.simulated_lm``, a stand-in, not a model) with a
fixed ``latency`` per call. Prints:

1. **framework time per update** at zero LM latency: the wall time of ``update()``, one at a
   time, split into the DSPy call to the zero-latency stand-in (adapter formatting and parsing)
   and everything else (coercion, retrieval with its query embedding, writes with their
   embedding, ledger, lock). Target: median <= 15 ms;
2. **efficiency** of ``process`` (threads) and ``aprocess`` (asyncio; each namespace's log runs whole in its pool) at L = 0.5 s and C = 32:
   ``floor / wall`` with ``floor = max(longest namespace chain x L, N x L / C)``. Target >= 0.85.
   Each mode runs in a fresh process of its own (``--mode sync|async`` runs one here): the
   second run in one process is ~0.02 faster whatever its mode, which earlier made async look
   better than sync;
3. ``--processes``: **1 vs 2 worker processes** on one Chroma server (``chroma run`` started
   here on 127.0.0.1, stopped after), each ``process(shard=(i, n), shard_by=...)`` with both
   assignments (``hash``: by namespace alone; ``load``: balanced on the dataset), each with its
   split and the cap that split allows: throughput ratio (target >= 1.7), duplicate memories
   and conflicts (target 0), in two regimes side by side,
   both with ``--proc-concurrency`` updates in flight per process:
   - the issue's own regime, L = ``--proc-latency`` (0.5 s): the LM dominates, as in production;
   - the CPU-bound regime, L = 0: nothing but engram's work and the server's.
   It also measures what bounds the CPU-bound row: the server's write rate (one upsert per
   request, from 1 and from 4 threads): Chroma's server commits each write request to disk
   one at a time, so two processes share one serial writer, on 2 cores that also run both
   workers and the server.

What bounds efficiency (measured 1 December, in-memory store): the first round. All 32
namespaces' first LM calls return together, and their writes queue: Chroma's in-process
client serves one call at a time (32 threads writing to 32 collections take as long as one
thread doing it all), a first write to a new collection costs about twice a later one, and
their ~60 texts share the embedder. The slowest namespace starts its second call ~0.35-0.5 s
late; every later round is staggered by then and costs ~2-20 ms (the efficiency rows print these
waits, round by round). Hence the write path's choices
(``engram/store/_writes.py``: no read before the lock with a local embedder;
``engram/store/_embeddings.py``: at most 8 texts per merged model call).

The machine is shared (2 cores): read the ratios, and run it twice.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta

import engram  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def dataset(n: int, users: int, seed: int = 0):
    """``n`` conversations over ``users`` simulated users, from the world's own message generator."""
    from engram.testing import World
    from engram.trajectories import Trajectory, TrajectoryDataset

    world = World(seed=seed, population=users)
    people = world.users(users)
    topics = world.topics()
    items = []
    for i in range(n):
        user = people[i % users]
        turn = i // users
        text = (user.intro(turn) + " " if turn % 2 == 0 else "") + user.message(topics[i % len(topics)], turn)
        items.append(Trajectory(messages=[{"role": "user", "content": f"[{i}] {text}"},
                                          {"role": "assistant", "content": "Thanks, I'll look into it."}],
                                user=user.id, time=T0 + timedelta(minutes=i)))
    return TrajectoryDataset(items)


_servers: list = []  # the `chroma run` of --store http: a fresh one per store, the last stopped at exit


def make_store(kind: str, backend: str = "memory"):
    """A fresh store: in memory, in a new temporary directory (``persistent``), or on a
    ``chroma run`` server of its own on 127.0.0.1 (``http``; the previous one is stopped)."""
    import tempfile

    from engram.store import MemoryStore

    def fresh(**kwargs):
        if backend == "persistent":
            return MemoryStore.persistent(tempfile.mkdtemp(prefix="engram-throughput-"), **kwargs)
        if backend == "http":
            import atexit
            from pathlib import Path

            from engram.testing import ChromaServer

            while _servers:
                _servers.pop().stop()
            server = ChromaServer(Path(tempfile.mkdtemp(prefix="engram-throughput-server-")))
            _servers.append(server)
            atexit.register(server.stop)
            return MemoryStore.http(server.url, **kwargs)
        return MemoryStore.in_memory(**kwargs)

    if kind == "hash":
        import hashlib
        import re

        from engram.store import Embedder

        class Hash(Embedder):
            spec = "bench:word-hash"

            def _embed(self, texts):
                out = []
                for text in texts:
                    vec = [0.0] * 384
                    for word in re.findall(r"[a-z0-9]+", text.lower()):
                        vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % 384] += 1.0
                    vec[0] += 1e-3
                    out.append(vec)
                return out

        return fresh(embedder=Hash())
    return fresh()


def warm_up(manager) -> None:
    """One long update first: loads the embedder, the tokenizer (LiteLLM) and Chroma, which a
    long-running process pays once (benchmarks/startup.py measures that). The embedder's cache
    of recent vectors is emptied after it, so the run starts with none of its texts known."""
    manager.update("warm-up: I'm on the Pro plan. " + "The export keeps failing on large files. " * 10,
                   {"user_id": "warmup"}, trajectory_id=f"warmup-{time.time()}")
    forget = getattr(_batcher(manager), "forget", None)  # (older engram versions keep no cache)
    if forget is not None:
        forget()


def _batcher(manager):
    embedder = manager.store.embedder
    return embedder._microbatcher() if getattr(embedder, "microbatch", False) else None


def cache_note(manager) -> str:
    """How many texts the embedder's cache of recent vectors answered (repeated memory texts)."""
    batcher = _batcher(manager)
    if batcher is None or not getattr(batcher, "cache_size", 0):
        return "no embedding cache"
    return f"embedding cache answered {batcher.hits} of {batcher.hits + batcher.items} texts"


def framework_time(data, embedder: str, backend: str = "memory") -> dict[str, float]:
    """Per-update wall time at zero LM latency, one update at a time (no contention)."""
    from engram.modules import MemoryManager
    from engram.testing import simulated_lm

    manager = MemoryManager(make_store(embedder, backend), ("memories", "{user_id}"), lm=simulated_lm(seed=0))
    extractor, in_lm = manager.extractor, []
    forward = extractor.forward

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return forward(*args, **kwargs)
        finally:
            in_lm.append(time.perf_counter() - start)

    extractor.forward = timed
    warm_up(manager)
    in_lm.clear()
    totals = []
    for trajectory in sorted(data, key=lambda t: t.time):
        start = time.perf_counter()
        manager.update(trajectory)
        totals.append(time.perf_counter() - start)
    rest = [t - m for t, m in zip(totals, in_lm)]
    return {"median": statistics.median(totals) * 1000, "p90": sorted(totals)[int(0.9 * len(totals))] * 1000,
            "lm_median": statistics.median(in_lm) * 1000, "rest_median": statistics.median(rest) * 1000,
            "cache": cache_note(manager),
            "memories": sum(manager.store.count(ns) for ns in manager.store.list_namespaces())}


def efficiency(data, embedder: str, latency: float, concurrency: int, mode: str,
               backend: str = "memory") -> dict[str, float]:
    from engram.modules import MemoryManager
    from engram.testing import simulated_lm

    manager = MemoryManager(make_store(embedder, backend), ("memories", "{user_id}"),
                            lm=simulated_lm(seed=0, latency=latency))
    warm_up(manager)
    calls = _record_lm_calls(manager)
    chain = max(sum(1 for t in data if t.user == u) for u in {t.user for t in data})
    floor = max(chain * latency, len(data) * latency / concurrency)
    start = time.perf_counter()
    if mode == "sync":
        report = manager.process(data, concurrency=concurrency, progress=False)
    else:
        report = asyncio.run(manager.aprocess(data, concurrency=concurrency, progress=False))
    wall = time.perf_counter() - start
    assert report.failed == 0, report.failures[:3]
    return {"wall": wall, "floor": floor, "efficiency": floor / wall, "applied": report.applied,
            "cache": cache_note(manager), "rounds": _rounds(calls, start)}


def _record_lm_calls(manager) -> dict[int, list[tuple[float, float]]]:
    """(start, end) of every extraction call, per thread: each namespace's log runs whole in
    one pool thread (both modes), so a thread's calls are one namespace's chain."""
    import threading

    calls: dict[int, list[tuple[float, float]]] = {}
    forward = manager.extractor.forward

    def timed(*args, **kwargs):
        begun = time.perf_counter()
        try:
            return forward(*args, **kwargs)
        finally:
            calls.setdefault(threading.get_ident(), []).append((begun, time.perf_counter()))

    manager.extractor.forward = timed
    return calls


def _rounds(calls: dict[int, list[tuple[float, float]]], start: float) -> str:
    """Where the time over the floor goes: how late the last chain's first call starts, and the
    longest wait between a call's end and the same chain's next call, round by round."""
    chains = [sorted(c) for c in calls.values()]
    first = max(c[0][0] for c in chains) - start
    depth = max(len(c) for c in chains)
    gaps = [max(c[r + 1][0] - c[r][1] for c in chains if len(c) > r + 1) for r in range(depth - 1)]
    shown = ", ".join(f"{g * 1000:.0f}" for g in gaps)
    return f"last first call starts at {first * 1000:.0f} ms; longest wait before each next call, round by round: {shown} ms"


_WORKER = """
import json, sys, time
sys.path.insert(0, {bench!r})
import throughput as t
from engram.modules import MemoryManager
from engram.store import MemoryStore
from engram.testing import simulated_lm

index, count, url, prefix, latency, concurrency, n, users, shard_by = sys.argv[1:10]
store = MemoryStore.http(url)
manager = MemoryManager(store, (prefix, "{{user_id}}"), lm=simulated_lm(seed=0, latency=float(latency)))
data = t.dataset(int(n), int(users))
import os
t.warm_up(MemoryManager(store, ("warmup-" + str(os.getpid()), "{{user_id}}"), lm=simulated_lm(seed=0)))
start = time.time()  # after the warm-up: the model, the tokenizer (LiteLLM) and Chroma are loaded
report = manager.process(data, shard=(int(index), int(count)), shard_by=shard_by, concurrency=int(concurrency),
                         progress=False)
end = time.time()
conflicts = sum("Conflict" in error for _, error in report.failures)
print(json.dumps({{"start": start, "end": end, "applied": report.applied, "failed": report.failed,
                  "conflicts": conflicts, "loads": list(report.plan.loads), "plan": report.plan.fingerprint,
                  "cap": report.plan.speedup_cap}}))
"""


def server_writes(url: str) -> tuple[float, float]:
    """Upserts per second the server accepts, one row per request: from 1 thread and from 4."""
    import threading
    from urllib.parse import urlparse

    import chromadb
    from chromadb.config import Settings

    parsed = urlparse(url)
    client = chromadb.HttpClient(host=parsed.hostname, port=parsed.port, settings=Settings(anonymized_telemetry=False))
    cols = [client.get_or_create_collection(f"bench-writes-{i}", embedding_function=None) for i in range(4)]
    rates = []
    for threads in (1, 4):
        def work(k: int, threads: int = threads) -> None:
            for i in range(12):
                cols[k].upsert(ids=[f"{threads}-{i}"], embeddings=[[0.5] * 8], documents=["x"], metadatas=[{"i": i}])

        start = time.perf_counter()
        pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        rates.append(12 * threads / (time.perf_counter() - start))
    for i in range(4):
        client.delete_collection(f"bench-writes-{i}")
    return rates[0], rates[1]


def processes(n: int, users: int, latencies: list[float], concurrency: int) -> None:
    """1 vs 2 worker processes (shards) on one Chroma server, at each latency, for both
    assignments (``shard_by="hash"`` and ``"load"``); prints the throughput ratios side by
    side with each assignment's split, the cap that split allows, duplicates and conflicts."""
    import tempfile
    from pathlib import Path

    from engram.testing import ChromaServer

    bench = str(Path(__file__).resolve().parent)
    code = _WORKER.format(bench=bench)
    with tempfile.TemporaryDirectory() as tmp:
        server = ChromaServer(Path(tmp))
        url = server.url
        try:
            one, four = server_writes(url)
            print(f"  the server's write rate (one upsert per request): {one:.0f}/s from 1 thread, "
                  f"{four:.0f}/s from 4 threads (writes are committed one at a time)")
            ratios = {}
            for latency in latencies:
                ratios[latency] = _ratio(url, code, n, users, latency, concurrency)
            print("  2 vs 1 processes, side by side (the cap: all trajectories / the larger shard's, the most "
                  "two processes can gain when every update costs the same):")
            for latency, by_kind in ratios.items():
                regime = ("the issue's regime (LM-bound)" if latency > 0
                          else "CPU-bound (no LM latency: engram + server only)")
                for kind, (ratio, split, cap) in by_kind.items():
                    print(f"    L={latency}s C={concurrency}/process, shard_by={kind:4s} split {split} "
                          f"(cap {cap:.2f}x), {regime}: {ratio:.2f}x ({'meets' if ratio >= 1.7 else 'below'} "
                          f"the 1.7x target; {ratio / cap:.0%} of its cap)")
            print("  why a row falls short: both workers share one server. Its writes are committed to disk one "
                  "after another (the rate above), and 2 cores run the server and both workers (and, here, other "
                  "jobs). At L=0 nothing else limits the run, so a second process mostly queues behind the same "
                  "commits and cores. At L=0.5 s the workers mostly wait on the LM: the split of the namespaces "
                  "bounds the ratio first (the hash's uneven split caps it below 1.7x; the load plan's even one "
                  "at 2x), and queueing on those commits (about one ledger mark per update, plus the memory "
                  "writes) costs the rest.")
        finally:
            server.stop()


def _ratio(url: str, code: str, n: int, users: int, latency: float, concurrency: int
           ) -> dict[str, tuple[float, str, float]]:
    """The 1-process wall, then the 2-process wall for each assignment: ``{kind: (ratio, split, cap)}``."""
    import json
    import os
    import subprocess
    import sys

    from engram.store import MemoryStore

    walls, splits = {}, {}
    for workers, kind in ((1, "hash"), (2, "hash"), (2, "load")):
        prefix = f"bench-{workers}p-{kind}-{latency}"
        runs = [subprocess.Popen([sys.executable, "-c", code, str(i), str(workers), url, prefix, str(latency),
                                  str(concurrency), str(n), str(users), kind], stdout=subprocess.PIPE,
                                 env={**os.environ}, text=True) for i in range(workers)]
        outs = [json.loads(r.communicate()[0].strip().splitlines()[-1]) for r in runs]
        wall = max(o["end"] for o in outs) - min(o["start"] for o in outs)
        store = MemoryStore.http(url)
        spaces = store.list_namespaces((prefix,))
        rows = [r for ns in spaces for r in store.list(ns, limit=10_000)]
        duplicates = len(rows) - len({(r.namespace, r.text) for r in rows})
        # every worker computed the plan alone; one dataset must give one plan
        same = "same plan" if len({o["plan"] for o in outs}) == 1 else "PLANS DIFFER"
        walls[workers, kind] = wall
        splits[kind] = ("/".join(map(str, outs[0]["loads"])), outs[0]["cap"])
        label = "" if workers == 1 else f", shard_by={kind} split {splits[kind][0]} ({same} {outs[0]['plan']})"
        print(f"  {workers} process(es), L={latency}s, C={concurrency} each{label}: wall {wall:.2f} s, "
              f"{n / wall:.1f} updates/s, applied {sum(o['applied'] for o in outs)}/{n}, "
              f"failed {sum(o['failed'] for o in outs)}, conflicts {sum(o['conflicts'] for o in outs)}, "
              f"{len(rows)} memories, duplicates {duplicates}")
    out = {}
    for kind in ("hash", "load"):
        ratio = walls[1, "hash"] / walls[2, kind]
        split, cap = splits[kind]
        print(f"  throughput ratio 2 vs 1 processes at L={latency}s, shard_by={kind}: {ratio:.2f}x (target >= 1.7); "
              f"the {users} users' {n} trajectories split {split}, which allows at most {cap:.2f}x")
        out[kind] = (ratio, split, cap)
    return out


def _efficiency_in_a_fresh_process(args: argparse.Namespace, mode: str) -> None:
    """One efficiency row, run by this script in a new interpreter (its rows print as they come)."""
    import subprocess
    import sys

    command = [sys.executable, __file__, "--skip-framework", "--no-header", "--mode", mode,
               "--embedder", args.embedder, "--latency", str(args.latency),
               "--concurrency", str(args.concurrency), "--store", args.store, *(["--quick"] if args.quick else [])]
    subprocess.run(command, check=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", choices=["default", "hash"], default="default")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="64 trajectories over 8 users")
    parser.add_argument("--store", choices=["memory", "persistent", "http"], default="memory",
                        help="the store of the framework and efficiency rows (persistent: a temporary directory; "
                             "http: a `chroma run` server started here on 127.0.0.1)")
    parser.add_argument("--skip-framework", action="store_true")
    parser.add_argument("--skip-efficiency", action="store_true")
    parser.add_argument("--processes", action="store_true", help="1 vs 2 worker processes on a Chroma server")
    parser.add_argument("--proc-latency", type=float, default=0.5, help="the LM-bound row's latency (0 is always run too)")
    parser.add_argument("--proc-concurrency", type=int, default=4)
    parser.add_argument("--mode", choices=["sync", "async", "both"], default="both",
                        help="the efficiency rows to run; 'both' runs each in a fresh process of its own, since "
                             "a second run in one process is ~0.02 faster whatever its mode")
    parser.add_argument("--no-header", action="store_true", help=argparse.SUPPRESS)  # a child of --mode both
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("dspy.primitives.module").setLevel(logging.ERROR)  # the timing wrapper's forward()
    n, users = (64, 8) if args.quick else (256, 32)
    data = dataset(n, users)
    label = "word-hash stand-in" if args.embedder == "hash" else repr(make_store("default").embedder)
    if not args.no_header:
        print(f"{n} trajectories over {users} users; offline simulated LM (stand-in); embedder: {label}; "
              f"{args.store} store")
    if not args.skip_framework:
        f = framework_time(data, args.embedder, args.store)
        print(f"framework time per update at zero LM latency: median {f['median']:.1f} ms, p90 {f['p90']:.1f} ms "
              f"(DSPy call to the stand-in {f['lm_median']:.1f} ms + engram {f['rest_median']:.1f} ms); "
              f"target <= 15 ms -> {f['median'] / 15:.2f}x of target; {f['memories']} memories; {f['cache']}")
    if not args.skip_efficiency and args.mode == "both":
        for mode in ("sync", "async"):
            _efficiency_in_a_fresh_process(args, mode)
    for mode in () if args.skip_efficiency or args.mode == "both" else (args.mode,):
        e = efficiency(data, args.embedder, args.latency, args.concurrency, mode, args.store)
        print(f"{mode:5s} L={args.latency}s C={args.concurrency}: wall {e['wall']:.2f} s, floor {e['floor']:.2f} s, "
              f"efficiency {e['efficiency']:.2f} (target >= 0.85), {e['applied']} applied; {e['cache']}")
        print(f"      {e['rounds']}")
    if args.processes:
        print("1 vs 2 worker processes, process(shard=(i, n)), one `chroma run` server on 127.0.0.1 "
              "(default MiniLM embedder in each worker):")
        processes(n, users, [args.proc_latency, 0.0], args.proc_concurrency)


if __name__ == "__main__":
    main()
