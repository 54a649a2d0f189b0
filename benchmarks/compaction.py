"""Compaction on a simulated namespace: 500 repetitive and contradictory updates (SIMULATED).

Offline stand-ins, not models: a simulated user (``engram.testing.CompactionWorld``) restates
12 facts in paraphrases while their values change; a note-taking extractor stand-in writes
each statement as a new memory through ``MemoryManager.process`` (how fragments pile up when
an extractor is not shown the related memory); then ``MemoryManager.compact`` runs with the
compaction stand-in (``offline/compaction``), which sees only memory texts and times.
Figures are counted against the world's sealed ground truth (each fact's final value):

- memories: live memories in the namespace;
- facts lost: facts whose true current value no memory states;
- contradictions: facts stated with two or more values.

Baselines in the same run: no compaction, and naive exact-text dedup (keep one memory per
distinct text). Target: facts lost 0, contradictions 0, >= 3x fewer memories.

    python benchmarks/compaction.py                 # 3 seeds x 500 updates, MiniLM embeddings
    python benchmarks/compaction.py --seeds 1 --updates 100 --embedder hash   # quick
"""

from __future__ import annotations

import argparse
import hashlib
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engram.store._embeddings import Embedder


class WordHashEmbedder(Embedder):
    """Bag of hashed words (a quick stand-in for MiniLM)."""

    spec = "bench:word-hash"

    def _embed(self, texts):
        out = []
        for text in texts:
            vec = [0.0] * 256
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % 256] += 1.0
            vec[0] += 1e-3
            out.append(vec)
        return out


def one_seed(seed: int, updates: int, batch_size: int, embedder: str) -> dict[str, dict[str, float]]:
    from engram.modules import MemoryManager
    from engram.store import MemoryStore
    from engram.testing import CompactionWorld, compaction_lm

    world = CompactionWorld(seed=seed, updates=updates)
    store = MemoryStore.in_memory(embedder=WordHashEmbedder() if embedder == "hash" else None)
    manager = MemoryManager(store, lm=compaction_lm(seed))
    ns = ("memories", "u1")
    t0 = time.perf_counter()
    manager.process(world.dataset(), progress=False)
    fed = time.perf_counter() - t0
    texts = [r.text for r in store.list(ns, limit=100_000)]
    rows = {"no compaction": world.evaluate(texts), "exact-text dedup": world.evaluate(sorted(set(texts)))}
    t0 = time.perf_counter()
    report = manager.compact(ns, batch_size=batch_size)
    took = time.perf_counter() - t0
    rows["compact (stand-in LM)"] = world.evaluate([r.text for r in store.list(ns, limit=100_000)])
    rows["compact (stand-in LM)"].update(lm_calls=report.lm_calls, rounds=report.rounds)
    print(f"  seed {seed}: {len(texts)} memories from {updates} updates ({fed:.1f}s); compact: "
          f"{report.before} -> {report.after} in {report.rounds} rounds, {report.lm_calls} LM calls "
          f"({took:.1f}s), merged into {len(report.merged)}, deleted {len(report.deleted)} as contradicted",
          flush=True)
    store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=40)
    parser.add_argument("--embedder", choices=["minilm", "hash"], default="minilm")
    args = parser.parse_args()
    print(f"SIMULATED: offline stand-ins (offline/compaction), not a model. {args.seeds} seeds x "
          f"{args.updates} updates, batch size {args.batch_size}, embedder {args.embedder}.", flush=True)
    runs = [one_seed(s, args.updates, args.batch_size, args.embedder) for s in range(args.seeds)]
    print(f"\n{'method':24} {'memories':>18} {'reduction':>10} {'facts lost':>12} {'contradictions':>15}")
    for method in runs[0]:
        mem = [r[method]["memories"] for r in runs]
        base = [r["no compaction"]["memories"] for r in runs]
        ratio = [b / max(m, 1) for b, m in zip(base, mem)]
        lost = [r[method]["facts_lost"] for r in runs]
        contra = [r[method]["contradictions"] for r in runs]
        print(f"{method:24} {statistics.mean(mem):8.1f} [{min(mem)}-{max(mem)}] {statistics.mean(ratio):9.1f}x "
              f"{statistics.mean(lost):6.2f} (max {max(lost)}) {statistics.mean(contra):8.2f} (max {max(contra)})")
    facts = runs[0]["no compaction"]["facts"]
    calls = [r["compact (stand-in LM)"]["lm_calls"] for r in runs]
    print(f"\n{facts} true facts per seed; compaction LM calls per seed: {calls}. Ranges are min-max over seeds.")
    done = all(r["compact (stand-in LM)"]["facts_lost"] == 0 and r["compact (stand-in LM)"]["contradictions"] == 0
               and r["no compaction"]["memories"] >= 3 * r["compact (stand-in LM)"]["memories"] for r in runs)
    print(f"target (facts lost 0, contradictions 0, >= 3x fewer memories) {'MET' if done else 'MISSED'} on every seed.")


if __name__ == "__main__":
    main()
