"""TallyOptimizer when the reader paraphrases: how much counting requests by their text costs (a SIMULATION).

The hard world's reader stand-in writes every request in the world's canonical wording, so
``TallyOptimizer`` counts one behaviour's requests under one text. A real LLM paraphrases
("Keep answers short." / "Be brief."), which splits a request's support across wordings. Here a
benchmark-local variant of the reader (still the reflection's partial understanding, still sealed)
writes each request in one of three wordings that mean the same to the world, and reuses a wording
from ``known_instructions`` (what the optimizer shows it) with probability ``reuse``: 0 ignores the
list, 1 always reuses a known wording when one means the same.

Measured 1 Dec (``python benchmarks/tally_paraphrase.py``, about 3 min), gap closed [95 % CI], with
the optimizer's ratings fit and contradiction guard (before them: canonical 0.703 / 0.660, paraphrasing
0.720-0.759 / 0.633-0.695):

    seeds                          0-39                  100-139
    canonical reader               0.787 [0.656, 0.879]  0.698 [0.599, 0.788]
    paraphrasing, reuse 0          0.783 [0.698, 0.862]  0.704 [0.612, 0.786]
    paraphrasing, reuse 0.5        0.789 [0.717, 0.853]  0.717 [0.631, 0.795]
    paraphrasing, reuse 0.9        0.785 [0.710, 0.849]  0.736 [0.639, 0.819]
    paraphrasing, reuse 1          0.827 [0.747, 0.895]  0.737 [0.652, 0.815]

Paraphrases do not hurt here: the checker labels every wording of a behaviour on every reply, so a
prompt's replayed value counts all of them however the support was split. They can even help: two of
the three wordings of "Open with a brief apology" do not also ask for brevity.

    python benchmarks/tally_paraphrase.py [--seeds 40] [--seed-offset 0] [--reuse 0,0.5,0.9,1]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import engram  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)
from engram.testing import _hard_methods as M
from engram.testing import _hard_rules as R
from engram.testing import _hard_standins as S
from engram.testing._hard_world import HARD_SEED_PROMPT, HardWorld

#: three wordings per (behaviour, wanted), each parsed by the world as that one directive
WORDINGS: dict[tuple[str, bool], tuple[str, str, str]] = {
    ("concise", True): (R.instruction_for("concise"), "Be brief.", "Keep replies concise."),
    ("concise", False): (R.instruction_for("concise", False), "Do not be brief; give full detail.",
                         "Never be concise; explain everything."),
    ("steps", True): (R.instruction_for("steps"), "Use a numbered step list.", "Answer with a list of steps."),
    ("steps", False): (R.instruction_for("steps", False), "Avoid numbered lists.", "Never use a list of steps."),
    ("apology", True): (R.instruction_for("apology"), "Say sorry for the trouble.", "Apologize for the inconvenience."),
    ("apology", False): (R.instruction_for("apology", False), "Never say sorry.", "Avoid apologies."),
    ("ticket", True): (R.instruction_for("ticket"), "Provide a ticket number.", "Include a ticket reference."),
    ("ticket", False): (R.instruction_for("ticket", False), "Never give ticket numbers.", "Avoid ticket references."),
    ("docs", True): (R.instruction_for("docs"), "Include a help center article link.",
                     "Point to the relevant help-center article."),
    ("docs", False): (R.instruction_for("docs", False), "Never send help center articles.",
                      "Avoid help-center article links."),
    ("followup", True): (R.instruction_for("followup"), "Ask a follow-up question at the end.",
                         "Check back whether it worked."),
    ("followup", False): (R.instruction_for("followup", False), "Never ask a follow-up question.",
                          "Avoid check back questions."),
    ("discount", True): (R.instruction_for("discount"), "Offer a coupon.", "Give a discount."),
    ("discount", False): (R.instruction_for("discount", False), "Do not offer coupons.", "Avoid discounts."),
}


KEY = {wording: key for key, wordings in WORDINGS.items() for wording in wordings}


def paraphrasing_reader(reuse: float) -> Any:
    """The reader stand-in, writing each request in a random wording unless it reuses a known one."""
    def reader(call: Any, world: HardWorld) -> dict[str, Any]:
        out = S.reader(call, world)
        known = S.listed(call.inputs.get("known_instructions", ""))
        rng = random.Random(f"{world.seed}-{call.text}")
        rewritten = []
        for asks in out["requested_instructions"]:
            mine = []
            for text in asks:  # the stand-in writes canonical wordings
                same = [k for k in known if KEY.get(k) == KEY[text]]
                mine.append(same[0] if same and rng.random() < reuse else rng.choice(WORDINGS[KEY[text]]))
            rewritten.append(mine)
        return {**out, "requested_instructions": rewritten}

    return reader


@contextmanager
def reader_role(reader: Any) -> Iterator[None]:
    saved = S.ROLES
    S.ROLES = tuple((name, match, reader if name == "reader" else handle) for name, match, handle in saved)
    try:
        yield
    finally:
        S.ROLES = saved


def run(seeds: int, offset: int, reuses: Sequence[float]) -> dict[str, list[float]]:
    """True held-out scores per seed: the seed prompt, the oracle, and tally with each reader."""
    rows: dict[str, list[float]] = {}
    for seed in range(offset, offset + seeds):
        world = HardWorld(seed)
        people = M.held_out(world)
        prompts = {"seed": HARD_SEED_PROMPT, "oracle": world.oracle_prompt(people),
                   "canonical reader": M.run_tally(world).prompt}
        for reuse in reuses:
            with reader_role(paraphrasing_reader(reuse)):
                prompts[f"paraphrasing reader, reuse {reuse:g}"] = M.run_tally(world).prompt
        for name, prompt in prompts.items():
            rows.setdefault(name, []).append(world.true_score(prompt, people))
        print(f"seed {seed}", file=sys.stderr)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--seed-offset", type=int, default=0)
    parser.add_argument("--reuse", default="0,0.5,0.9,1", help="probabilities, comma-separated")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from optimization_ceiling import closed

    result = closed(run(args.seeds, args.seed_offset, [float(r) for r in args.reuse.split(",")]))
    print(f"TallyOptimizer, hard world (SIMULATION), seeds {args.seed_offset}-{args.seed_offset + args.seeds - 1}, gap closed:")
    for name, row in result.items():
        if name not in ("seed", "oracle"):
            print(f"  {name:<36} {row['gap_closed']:.3f}  [{row['ci'][0]:.3f}, {row['ci'][1]:.3f}]")


if __name__ == "__main__":
    main()
