"""Memory-update throughput: engram's own time per update, and how close process() gets to the LM limit.

    python benchmarks/throughput.py                    # the default store's embedder (MiniLM)
    python benchmarks/throughput.py --embedder hash    # a word-hash stand-in: framework time without the model
    python benchmarks/throughput.py --quick            # 64 trajectories over 8 users

Data: 256 support conversations over 32 simulated users (8 each, in time order); the LM is
the offline simulated world (``engram.testing.simulated_lm``, a stand-in, not a model) with a
fixed ``latency`` per call. Prints:

1. **framework time per update** at zero LM latency: the wall time of ``update()``, one at a
   time, split into the DSPy call to the zero-latency stand-in (adapter formatting and parsing)
   and everything else (coercion, retrieval with its query embedding, writes with their
   embedding, ledger, lock). Target: median <= 15 ms;
2. **efficiency** of ``process`` (threads) and ``aprocess`` (asyncio) at L = 0.5 s and C = 32:
   ``floor / wall`` with ``floor = max(longest namespace chain x L, N x L / C)``. Target >= 0.85.

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


def make_store(kind: str):
    from engram.store import MemoryStore

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

        return MemoryStore.in_memory(embedder=Hash())
    return MemoryStore.in_memory()


def warm_up(manager) -> None:
    """One long update first: loads the embedder, the tokenizer (LiteLLM) and Chroma, which a
    long-running process pays once (benchmarks/startup.py measures that)."""
    manager.update("warm-up: I'm on the Pro plan. " + "The export keeps failing on large files. " * 10,
                   {"user_id": "warmup"}, trajectory_id=f"warmup-{time.time()}")


def framework_time(data, embedder: str) -> dict[str, float]:
    """Per-update wall time at zero LM latency, one update at a time (no contention)."""
    from engram.modules import MemoryManager
    from engram.testing import simulated_lm

    manager = MemoryManager(make_store(embedder), ("memories", "{user_id}"), lm=simulated_lm(seed=0))
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
            "memories": sum(manager.store.count(ns) for ns in manager.store.list_namespaces())}


def efficiency(data, embedder: str, latency: float, concurrency: int, mode: str) -> dict[str, float]:
    from engram.modules import MemoryManager
    from engram.testing import simulated_lm

    manager = MemoryManager(make_store(embedder), ("memories", "{user_id}"), lm=simulated_lm(seed=0, latency=latency))
    warm_up(manager)
    chain = max(sum(1 for t in data if t.user == u) for u in {t.user for t in data})
    floor = max(chain * latency, len(data) * latency / concurrency)
    start = time.perf_counter()
    if mode == "sync":
        report = manager.process(data, concurrency=concurrency, progress=False)
    else:
        report = asyncio.run(manager.aprocess(data, concurrency=concurrency, progress=False))
    wall = time.perf_counter() - start
    assert report.failed == 0, report.failures[:3]
    return {"wall": wall, "floor": floor, "efficiency": floor / wall, "applied": report.applied}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", choices=["default", "hash"], default="default")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="64 trajectories over 8 users")
    parser.add_argument("--skip-framework", action="store_true")
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("dspy.primitives.module").setLevel(logging.ERROR)  # the timing wrapper's forward()
    n, users = (64, 8) if args.quick else (256, 32)
    data = dataset(n, users)
    label = "word-hash stand-in" if args.embedder == "hash" else repr(make_store("default").embedder)
    print(f"{n} trajectories over {users} users; offline simulated LM (stand-in); embedder: {label}")
    if not args.skip_framework:
        f = framework_time(data, args.embedder)
        print(f"framework time per update at zero LM latency: median {f['median']:.1f} ms, p90 {f['p90']:.1f} ms "
              f"(DSPy call to the stand-in {f['lm_median']:.1f} ms + engram {f['rest_median']:.1f} ms); "
              f"target <= 15 ms -> {f['median'] / 15:.2f}x of target; {f['memories']} memories")
    for mode in ("sync", "async"):
        e = efficiency(data, args.embedder, args.latency, args.concurrency, mode)
        print(f"{mode:5s} L={args.latency}s C={args.concurrency}: wall {e['wall']:.2f} s, floor {e['floor']:.2f} s, "
              f"efficiency {e['efficiency']:.2f} (target >= 0.85), {e['applied']} applied")


if __name__ == "__main__":
    main()
