"""How often the candidate gate accepts a candidate that is no better, and how often it finds a real gain.

A SIMULATION of judged scores (no LM): each held-out trajectory has a true quality
``q ~ U(0, 1)`` under the incumbent prompt and ``q + gain + e`` under the candidate (``e``:
the candidate helps some trajectories more than others, sd 0.10). A noisy judge scores both
replays: ``clip(true + N(0, judge_noise), 0, 1)`` rounded to tenths, as LM judges answer.
Every decision goes through the real gate (``CandidateGate.decide``, the code
``CandidateGate.compare`` runs after replaying); a subset also goes through
``CandidateGate.compare`` end to end, with a stand-in task LM whose replies carry the
simulated scores, to show the decisions are identical.

Printed:

1. the false-accept rate for candidates that are no better (true gain 0) and slightly worse
   (-0.05), per rule and held-out size, beside the old rule (accept any mean gain);
2. the power (acceptance rate) at true gains 0.02-0.20, per held-out size, at the defaults;
3. the end-to-end check.

Target (issue 10): false accepts <= 5 % at the default settings (bootstrap, 95 %,
min_gain 0, 20 held-out trajectories).

    python benchmarks/gate_calibration.py [--decisions 1000] [--judge-noise 0.25] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

import engram  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)

SIZES = (8, 20, 50)
RULES = ("bootstrap", "sign", "t", "mean")  # "mean": the old gate (accept when the mean is higher)
GAINS = (0.02, 0.05, 0.10, 0.15, 0.20)
DEFAULT_N = 20
TARGET = 0.05


def judged_scores(rng: np.random.Generator, n: int, gain: float, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Judge scores of the incumbent and the candidate on ``n`` held-out trajectories (a simulation)."""
    quality = rng.random(n)
    effect = gain + rng.normal(0, 0.10, n)
    def judge(true):
        return np.round(np.clip(true + rng.normal(0, noise, n), 0, 1), 1)

    return judge(quality), judge(np.clip(quality + effect, 0, 1))


def _gate(method: str, resamples: int) -> Any:
    from engram.optimizers import CandidateGate

    return CandidateGate(metric=lambda *a: 0.0, method=method, n_resamples=resamples)


def rate(rule: str, n: int, gain: float, *, decisions: int, noise: float, seed: int, resamples: int) -> dict[str, Any]:
    """Acceptance rate of ``rule`` over ``decisions`` simulated candidates with true mean ``gain``."""
    rng = np.random.default_rng([seed, n, round(gain * 1000) + 1000, RULES.index(rule)])
    gate = None if rule == "mean" else _gate(rule, resamples)
    accepted = 0
    for _ in range(decisions):
        before, after = judged_scores(rng, n, gain, noise)
        accepted += bool(after.mean() > before.mean()) if gate is None else gate.decide(list(before), list(after)).accepted
    return {"rate": accepted / decisions, "ci": wilson(accepted, decisions), "decisions": decisions}


def wilson(successes: int, trials: int, z: float = 1.96) -> list[float]:
    """Wilson's 95 % interval for a rate (sound at 0 and 1, unlike p ± 1.96 se)."""
    p, zz = successes / trials, z * z / trials
    center = (p + zz / 2) / (1 + zz)
    half = z * math.sqrt(p * (1 - p) / trials + zz / (4 * trials)) / (1 + zz)
    return [max(0.0, center - half), min(1.0, center + half)]


def end_to_end(*, decisions: int, noise: float, seed: int) -> dict[str, Any]:
    """The same decisions through ``CandidateGate.compare`` (replays with a stand-in task LM)."""
    from engram.optimizers import CandidateGate
    from engram.prompts import Prompt
    from engram.testing import scripted_lm
    from engram.trajectories import Trajectory

    rng = np.random.default_rng(seed)
    old, new = Prompt(name="p", template="incumbent"), Prompt(name="p", template="candidate")
    same = 0
    for d in range(decisions):
        gain = (0.0, 0.1)[d % 2]
        before, after = judged_scores(rng, DEFAULT_N, gain, noise)
        held_out = [Trajectory(id=f"d{d}-t{i}", messages=[{"role": "user", "content": f"q{i}"}])
                    for i in range(DEFAULT_N)]
        table = {("incumbent", f"q{i}"): before[i] for i in range(DEFAULT_N)}
        table |= {("candidate", f"q{i}"): after[i] for i in range(DEFAULT_N)}
        # Stand-in task LM (offline/scripted): its reply carries the simulated judged score.
        task = scripted_lm(lambda call, table=table: {
            "response": str(table[(call.inputs["system_prompt"], call.inputs["message"])])})
        gate = CandidateGate(task, metric=lambda t, replayed, p: float(replayed[-1].content), num_threads=1)
        full = gate.compare(old, new, held_out)
        same += full.accepted == gate.decide(list(before), list(after)).accepted
    return {"decisions": decisions, "identical": same}


def run(*, decisions: int = 1000, noise: float = 0.25, seed: int = 0, resamples: int = 2000,
        e2e: int = 40) -> dict[str, Any]:
    false_accepts = {f"{rule}@n={n}": {f"gain={g:+.2f}": rate(rule, n, g, decisions=decisions, noise=noise,
                                                              seed=seed, resamples=resamples)
                                       for g in (0.0, -0.05)}
                     for rule in RULES for n in SIZES}
    default = rate("bootstrap", DEFAULT_N, 0.0, decisions=decisions, noise=noise, seed=seed + 1, resamples=10_000)
    power = {f"n={n}": {f"gain={g:.2f}": rate("bootstrap", n, g, decisions=decisions, noise=noise, seed=seed,
                                              resamples=resamples) for g in GAINS} for n in SIZES}
    return {"simulation": "judged scores, no LM", "judge_noise": noise, "decisions_per_cell": decisions,
            "bootstrap_resamples_in_tables": resamples,
            "default_settings": {"method": "bootstrap", "confidence": 0.95, "min_gain": 0.0, "n": DEFAULT_N,
                                 "false_accept": default, "target": TARGET,
                                 "meets_target": default["rate"] <= TARGET},
            "false_accepts": false_accepts, "power": power,
            "end_to_end": end_to_end(decisions=e2e, noise=noise, seed=seed) if e2e else None}


def _print(result: dict[str, Any]) -> None:
    print(f"Gate calibration: a SIMULATION of judged scores (judge noise sd {result['judge_noise']}, "
          f"scores rounded to tenths), {result['decisions_per_cell']} decisions per cell, "
          f"bootstrap {result['bootstrap_resamples_in_tables']} resamples in the tables.\n")
    d = result["default_settings"]
    fa = d["false_accept"]
    print(f"Default settings (bootstrap, 95 %, min_gain 0, n={d['n']}, 10,000 resamples): false-accept rate "
          f"{fa['rate']:.3f} [{fa['ci'][0]:.3f}, {fa['ci'][1]:.3f}] -> target <= {d['target']:.2f}: "
          f"{'MET' if d['meets_target'] else 'NOT MET'}\n")
    print("False-accept rate (candidates no better: true gain 0; slightly worse: -0.05)")
    print(f"{'rule':<22}{'gain 0':>22}{'gain -0.05':>22}")
    for key, row in result["false_accepts"].items():
        cells = [f"{c['rate']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}]" for c in row.values()]
        print(f"{key:<22}{cells[0]:>22}{cells[1]:>22}")
    print("\nPower (acceptance rate) at the stated true mean gain, bootstrap, 95 %, min_gain 0")
    print(f"{'held-out':<10}" + "".join(f"{g:>10.2f}" for g in GAINS))
    for key, row in result["power"].items():
        print(f"{key:<10}" + "".join(f"{c['rate']:>10.3f}" for c in row.values()))
    if result["end_to_end"]:
        e = result["end_to_end"]
        print(f"\nEnd to end: {e['identical']}/{e['decisions']} decisions identical between CandidateGate.compare "
              "(replays by the offline/scripted task LM) and CandidateGate.decide on the same scores.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1000)
    parser.add_argument("--judge-noise", type=float, default=0.25)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--end-to-end", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(decisions=args.decisions, noise=args.judge_noise, seed=args.seed, resamples=args.resamples,
                 e2e=args.end_to_end)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)


if __name__ == "__main__":
    main()
