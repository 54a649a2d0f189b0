"""Tuning loop for gradient+gate+live on the hard world: a SIMULATION with offline stand-ins, not LLM results.

Each variant is ``run_live`` from ``benchmarks/optimization_quality.py`` with keyword options
(GradientOptimizer / PromptOptimizerBase options, ``gate_options={...}`` for the CandidateGate,
``scorer=True`` for the learned second opinion). Per variant: the gap closed over the seeds
(mean(score - seed) / mean(oracle - seed), true scores on the 30 held-out users), the paired
difference in true score against the FIRST variant with its standard error, LM calls and tokens.
Choose settings on seeds 100-139 and report once on 0-39 (``optimization_quality.py`` docstring).

    python benchmarks/live_variants.py --seed-offset 100 --seeds 40 live "live:gate_options={'min_gain':0.02}"
"""

from __future__ import annotations

import argparse
import ast
import logging
import sys
import time
from pathlib import Path
from typing import Any

import engram  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)


def parse(spec: str) -> dict[str, Any]:
    """``name:key=value,key=value`` (values are Python literals) -> the options."""
    options: dict[str, Any] = {}
    if ":" in spec:
        for item in spec.split(":", 1)[1].split(","):
            key, value = item.split("=", 1)
            options[key.strip()] = ast.literal_eval(value)
    return options


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="'live' or 'live:key=value,...' (the first is the reference)")
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--seed-offset", type=int, default=100)
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    import numpy as np

    sys.path.insert(0, str(Path(__file__).parent))
    import optimization_quality as Q

    from engram.testing import _hard_methods as M
    from engram.testing._hard_world import HARD_SEED_PROMPT, HardWorld

    rows: dict[str, dict[str, list[float]]] = {v: {"score": [], "calls": [], "tokens": []} for v in args.variants}
    seed_scores, oracle_scores = [], []
    start = time.time()
    for seed in range(args.seed_offset, args.seed_offset + args.seeds):
        world = HardWorld(seed)
        people = M.held_out(world)
        seed_scores.append(world.true_score(HARD_SEED_PROMPT, people))
        oracle_scores.append(world.true_score(world.oracle_prompt(people), people))
        for variant in args.variants:
            out = Q.run_live(world, **parse(variant))
            rows[variant]["score"].append(world.true_score(out.prompt, people))
            rows[variant]["calls"].append(out.calls)
            rows[variant]["tokens"].append(out.tokens)
    base, gap = np.array(seed_scores), np.array(oracle_scores) - np.array(seed_scores)
    first = np.array(rows[args.variants[0]]["score"])
    print(f"SIMULATION (hard offline world, stand-in LMs), seeds {args.seed_offset}-{args.seed_offset + args.seeds - 1}")
    for variant, row in rows.items():
        score = np.array(row["score"])
        d = score - first
        se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.0
        print(f"{variant:<55} gap closed {(score - base).mean() / gap.mean():.3f}  vs first {d.mean():+.4f} "
              f"(SE {se:.4f})  calls {np.mean(row['calls']):.0f}  tokens {np.mean(row['tokens']):.0f}")
    print(f"time {time.time() - start:.0f}s")


if __name__ == "__main__":
    main()
