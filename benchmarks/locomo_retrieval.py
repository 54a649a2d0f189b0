"""LoCoMo retrieval: flat MiniLM vs engram's hybrid archive ranking, through the real store.

Run::

    python benchmarks/locomo_retrieval.py                   # categories 1-4, original evidence
    python benchmarks/locomo_retrieval.py --corrections     # with the audited citation fixes

Each LoCoMo conversation is archived in its own namespace of an in-memory
``MemoryStore`` (one ``kind="message"`` record per turn, embedded as
``"Speaker: text"`` plus the image caption). For every question of categories
1-4, both rankers search only that conversation:

- **flat**: ``store.search(ns, question)`` - Chroma cosine top-k on MiniLM vectors
  (the reference baseline, published as recall_any@10 = 0.502 on 1,531 questions);
- **hybrid**: ``store.search(ns, question, kind="message")`` - dense + BM25 (bm25s)
  + neighbouring turns + named speaker, no LM calls.

Prints recall_any@1/5/10, recall_all@10 and NDCG@10 per category and overall.
Questions count when at least one evidence id names a real turn (malformed ids such
as ``"D8:6; D9:17"`` are repaired by the loader, so a few more count than the 1,531).
The ranker's four weights were chosen on this same data (a coarse grid; nearby
settings score within about 0.01), so treat the figure as in-sample.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import engram  # noqa: F401
from engram.loaders import (
    SCORED_CATEGORIES,
    load_locomo,
    locomo_questions,
    locomo_scores,
    mean_scores,
)
from engram.store import MemoryStore

REFERENCE = {"recall_any@1": 0.176, "recall_any@5": 0.402, "recall_any@10": 0.502}
METRICS = ["recall_any@1", "recall_any@5", "recall_any@10", "recall_all@10", "ndcg@10"]


def table(title: str, results: dict[str, dict[int, list[dict[str, float]]]]) -> None:
    print(f"\n{title}")
    header = f"{'':<28}" + "".join(f"{m:>15}" for m in METRICS)
    print(header)
    for name, by_cat in results.items():
        rows = [(f"{c} {SCORED_CATEGORIES[c]}", by_cat[c]) for c in sorted(by_cat)]
        rows.append(("categories 1-4", [s for c in sorted(by_cat) for s in by_cat[c]]))
        for label, scores in rows:
            means = mean_scores(scores)
            cells = "".join(f"{means[m]:>15.3f}" for m in METRICS)
            print(f"{name + ' ' + label:<28}{cells}   n={len(scores)}")
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=None, help="locomo10.json (default ../shared/data)")
    parser.add_argument("--corrections", action="store_true", help="apply locomo-audit fixes")
    parser.add_argument("--conversations", type=int, default=10)
    args = parser.parse_args()

    conversations = load_locomo(args.path, corrections=args.corrections)[: args.conversations]
    store = MemoryStore.in_memory()
    start = time.perf_counter()
    for conv in conversations:
        store.put_many(("locomo", conv.sample_id), conv.archive_items())
    turns = sum(len(c.turns) for c in conversations)
    print(f"archived {turns:,} turns of {len(conversations)} conversations in "
          f"{time.perf_counter() - start:.0f}s (embedding included)")

    results: dict[str, dict[int, list[dict[str, float]]]] = {"flat": defaultdict(list),
                                                               "hybrid": defaultdict(list)}
    timings = {"flat": 0.0, "hybrid": 0.0}
    for conv in conversations:
        ns = ("locomo", conv.sample_id)
        for q, evidence in locomo_questions(conv):
            for name, kind in (("flat", None), ("hybrid", "message")):
                t0 = time.perf_counter()
                hits = store.search(ns, q.question, kind=kind, limit=10)
                timings[name] += time.perf_counter() - t0
                results[name][q.category].append(locomo_scores([h.id for h in hits], evidence))

    n = sum(len(v) for v in results["flat"].values())
    table(f"LoCoMo retrieval, {n} questions (categories 1-4)"
          f"{', audited evidence' if args.corrections else ''}", results)
    overall = {name: sum(s["recall_any@10"] for c in r.values() for s in c) / n for name, r in results.items()}
    print(f"recall_any@10: reference flat MiniLM 0.502 | flat here {overall['flat']:.3f} | "
          f"hybrid {overall['hybrid']:.3f} (target >= 0.70; no LM calls)")
    print(f"mean search time per question: flat {1000 * timings['flat'] / n:.1f} ms, "
          f"hybrid {1000 * timings['hybrid'] / n:.1f} ms (query embedding included)")


if __name__ == "__main__":
    main()
