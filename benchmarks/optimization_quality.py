"""Optimization quality in the hard world: a SIMULATION with offline stand-ins, not LLM results.

The world (``engram.testing.HardWorld``, ``offline/hard``) was written so optimizers can fail:
conflicting user segments who also dislike things, paraphrased / partial / wrong / deictic
comments, a task model that follows only three directives (asking for more costs every user
a step), a discount users like but the business pays for, a noisy judge that cannot see the
users, and reflection / writer stand-ins that understand feedback only partly. Its rules were
committed before this benchmark scored anything.

Per world seed (40 by default; at least 20), every method starts from the same seed prompt and meets
the same training users (3 rounds x 12 users x 2 conversations); the score is the TRUE mean
score (satisfaction minus the discount's cost) of the final prompt (and demos) on 30
held-out users. ``gap_closed`` = mean(score - seed) / mean(oracle - seed) over seeds, with a
95 % bootstrap interval over seeds; paired differences use a t interval over seeds.

Baselines (same run): the seed prompt, the kitchen sink (every instruction), random
instructions, gradient with shuffled feedback, gradient with inverted feedback, a
complaint-counting optimizer (no LM), and the brute-force oracle (best <= 3 directives,
chosen on the held-out users themselves: an upper bound). The world is VALID only if every
feedback-ignoring baseline closes at most half the gap and true feedback beats shuffled and
inverted feedback with the paired interval above 0.

Latest (1 Dec, 40 seeds, 8.3 min wall while other work shared the 2 cores): the world is valid;
engram's best, ``tally``, closes 0.787 [0.656, 0.879] (target 0.8 NOT met; 0.712 over 120 seeds) and
beats every feedback-ignoring baseline, GEPA and MIPROv2 with the paired interval above 0;
``tally_lean`` beats both within their token budgets (see HU at the end). The paragraphs below are the
history, oldest first.

Measured (40 seeds, 4.7-10.5 min wall on a shared 2-core machine, 1.5 min CPU): the world is valid
(shuffled feedback -0.034 [-0.063, -0.005] below true, inverted -0.092); gradient+gate closes
0.52 [0.37, 0.65] of the gap (target 0.8 not met), ties DSPy's GEPA (-0.004 [-0.032, +0.024])
and beats MIPROv2 (+0.024 [+0.001, +0.048]) at about the same tokens. At 20 seeds the shuffled
check is not significant (+0.042 [-0.003, +0.087]): the world is then reported NOT valid.

Tried and reverted (H8, issue 10): gradient choosing each round among several candidates (all
recommendations, each alone, the prompt without each instruction line) by a FeedbackScorer
reward model fitted on all feedback seen so far, replaying 24 logged messages per candidate and
accepting only a reliable paired gain. On seeds 0-7 it closed 0.41 of the gap (0.42 replaying 48
messages; 0.25 without the single-recommendation candidates) against 0.46 for plain gradient (6 calls), at
250-730 LM calls per run (gradient+gate: about 100): the reward model, fitted on 24-72 rated replies,
orders prompts only loosely (Spearman 0.59 over all two-directive prompts, seeds 0-4).
Also reverted: gradient critiquing the previous batch too (memory=1, one instance called round
after round). Chosen on seeds 100-139 (+0.041 true score over gradient, SE 0.020), it did not
replicate on seeds 0-39: gap closed 0.163 [-0.065, 0.377] vs gradient 0.318 [0.141, 0.478],
and with shuffled feedback it closed 0.267 (more than with true feedback); with the gate 0.456
vs gradient+gate 0.472. Re-run 1 Dec (40 seeds, 2.5 min wall): gradient+gate 0.472 [0.338,
0.599], GEPA 0.545, MIPROv2 0.377, world valid.

Kept (HD, 1 Dec; every setting chosen on seeds 100-139 with --seed-offset 100, where gradient+gate
closes 0.279): ``gradient+gate+live`` = gradient whose gate replays the 8 first training
trajectories instead of a held-out 30 % (val_fraction=0: 0.360), rolls back to the version users
scored higher on live feedback (rollback=True: 0.416), judges the incumbent on the logged replies
(reuse_logged: same decisions, 48.5k -> 41.5k tokens) and uses an 80 % gate interval (0.481; 95 %
0.416, 90 % 0.447, 70 % 0.454, 60 % 0.349; 12 replays 0.486 at 56k tokens). Reported on seeds 0-39
twice: first without the 80 % interval and reuse (0.525 [0.412, 0.629], 96 calls, 48.7k tokens),
then as kept: 0.566 [0.457, 0.666], 74 calls, 41.5k tokens; vs GEPA +0.004 [-0.021, +0.028] (a tie
at 7 % fewer tokens), vs MIPROv2 +0.032 [+0.010, +0.053], vs gradient+gate +0.016 [-0.002,
+0.033]. The gain over gradient+gate was +0.20 of the gap on seeds 100-139 but is +0.09 (not
significant) on seeds 0-39. Target 0.8 NOT met. Tried on 100-139 and reverted: a beam (each
recommendation alone and all together, best gated one kept: 0.312 vs 0.329 at 1.7x tokens; the
judge ranks edits by its own taste, not the users'), one edit per round (0.207), a gate that only
vetoes reliably worse candidates (0.219), critiquing every log of the version being edited
(0.214), Welch-interval rollback (0.408 vs 0.416 by means), and deploying pure deletions without
the judge for the rollback to police (0.475 vs 0.481).

HO (1 Dec), diagnosis first (``--diagnose live --seeds 40 --seed-offset 100``: per seed, the oracle's
directives, the final prompt's, and the causes). Share of the total loss (oracle - final) carried by
the seeds with each cause (they overlap): a recommendation against the users' mean taste 0.80 (27 of
40 seeds; "Open with a brief apology" also asks for brevity, so it drags "concise" in), an oracle
directive never recommended 0.67 (28; mostly "do not ..." directives: a behaviour users dislike shows
only by chance, so complaints about it rarely reach the reflection's threshold), a harmful directive
kept 0.41, a good candidate rejected by the gate 0.39 (10; drops and "do not"s, which the judge's
generic taste dislikes), a candidate over the instruction limit 0.37 (22), a harmful one accepted 0.34
(9), a rollback 0.27 (8). The proposals bound what any gate can do: an ad-hoc diagnostic gate that
reads the training users' true scores (not a method; not in this file) closes only 0.563 on seeds
100-139 with the same proposals (0.428 on seeds 100-119 where the judge's gate closes 0.413).
Kept: ``gradient+gate+live+scorer`` (the gate fits a FeedbackScorer on every log seen so far, as a
pre-screen that vetoes reliably worse candidates and a second opinion that can lift the judge's
veto): 0.533 on seeds 100-139 vs 0.481 (paired +0.008 [-0.007, +0.023] in true score: not significant
even there); on seeds 0-39 0.558 [0.431, 0.666] vs 0.566, paired
-0.001 [-0.015, +0.012] in true score: a tie at 58 calls / 33.8k tokens instead of 74 / 41.5k (GEPA
134 / 44.5k for 0.545). Re-run the same day after the embedder's ONNX export changed (vectors equal
to cosine 1.00000): 0.508 [0.371, 0.629], paired -0.010 [-0.024, +0.004] (13 of 40 seeds differ
from gradient+gate+live): the learned scorer's decisions flip on float rounding, so its row moves by +-0.05 for
reasons that have nothing to do with feedback. Target 0.8 NOT met. Tried on seeds 100-139 and not kept: the scorer alone
(0.308), without the pre-screen's veto (0.441), the veto only after 30 logs (0.473), scorer with 8 or
0 embedding dimensions (0.481, 0.473), gate confidence 0.9 (0.491), 12 replays (0.526 at 56k tokens),
each recommendation alone when the joint candidate fails (0.528 at 45.5k), critiquing the worst 8 /
12 / 16 trajectories only (0.354 / 0.351 / 0.429; 0.364 with the scorer), and, when a candidate that
only adds lines is rejected, retrying it without each of the incumbent's lines to make room under the
instruction limit (0.515 at 39.9k tokens).

HQ (1 Dec): the two untried directions from HO's diagnosis, measured on seeds 100-139 with
``benchmarks/live_variants.py`` (paired against gradient+gate+live, 0.481 there, 74 calls / 41.3k tokens; code
at commit 386fcc4, then reverted: none is kept). (a) Bagged reflection, k critiques over subsamples without
replacement of the round's logs, keeping the recommendations at least a share of them make (text match):
k=3 halves 0.352 at 51k tokens; k=5 halves 0.378 (64k); k=5 80 % subsamples 0.370 (74k), agreement 0.4
0.311, 0.8 0.381 (70k); k=5 two-thirds at 0.4 0.381; halves at 0.3 0.330. Every setting is worse (paired
-0.016 to -0.027 in true score, SE ~0.01) at 1.2-1.8x the tokens: the consensus is more conservative (of 19
seeds whose final prompt changed with k=5 / 80 % / 0.8, 11 ended with fewer directives), and it cuts the good
recommendations with the misled ones, because the misleading comes from a bias (complaints about a missing
behaviour outnumber complaints about a shown one, which users see only by chance), not from noise a
resample can average out. (b) Evidence across rounds: critiquing every log seen so far 0.420 (41k; with k=3
halves of it 0.368, k=5 40 % at 0.6 0.341); the last round's critique passed as ``previous_critique`` 0.470;
a tally of recommendations across rounds that lifts the gate's veto when every recommendation of a rejected
candidate was also made on an earlier batch and the gate does not find it reliably worse: 0.411 (beside the
scorer 0.554 vs 0.533 there, and on seeds 0-39 exactly the scorer's 0.558: the override never fired there).
(c) Gate settings: ``min_gain`` 0.02 / 0.04 0.451 / 0.421, ``unit="user"`` 0.449; the scorer with a hashed
bag-of-words embedder instead of MiniLM 0.504 (16 dims) / 0.492 (8) vs 0.533; never re-accepting a version
users already scored lower live: identical (it never happens). Target 0.8 NOT met; the defaults stay.

HT (1 Dec): ``tally`` (``engram.optimizers.TallyOptimizer``), built on what ``optimization_ceiling.py``
showed: with the stand-ins' own partial reading of each comment, tallying requests per exposure and
valuing whole prompts by what they make the task model do closes 0.76, so the loss was in the critique's
batch vote and the edit search, not in the feedback. Each conversation is read on its own (a
ChainOfThought reader stand-in with the reflection's understanding, 12 conversations a call, one answer
each), each reply checked against every requested instruction (a checker stand-in on the world's public
detectors), and the best 8 instruction sets replayed on 6 fixed messages. Chosen on seeds 100-139 (0.66
there; ``candidates`` 20: 0.648, 12: 0.648, 5: 0.623, 3: 0.602; 12 with 4 / 8 replay messages 0.629 /
0.667; pool 6 0.640; the replays as raw chat instead of a DSPy signature: the same 0.66, 168k -> 135k tokens;
then reading and checking 6, 12 or 24 conversations a call instead of one: the same 0.66 at 67k / 61k /
58k tokens; ``max_instructions`` 3 / 4 / 5: 0.646 / 0.66 / 0.526, so the default cap sits near the
world's limit of three and a looser one hurts; replaying the best sets of each size too: 0.603; with
``rollback=True`` 0.671, not kept). On seeds
0-39: 0.703 [0.605, 0.786] at 201 calls / 60k tokens, vs gradient+gate+live +0.023 [+0.006, +0.039],
vs GEPA +0.026 [+0.003, +0.050] (at 1.35x GEPA's tokens), vs MIPROv2 +0.054. ``tally_lean`` (24 a call,
3 candidates; chosen on 100-139 to fit GEPA's budget, 0.60 there) closes 0.645 at 43k tokens: vs GEPA
+0.017 [-0.008, +0.041], not significant. Its own shuffled-feedback control closes 0.614 (true -
shuffled +0.015 [-0.005, +0.035], NOT significant; inverted -0.397): the careful reader drops a
shuffled comment its new reply contradicts, so what survives still says what the population wants;
only the exposure correction needs the true pairing. Target 0.8 NOT met.

HU (1 Dec, later): two changes to ``tally``. (1) The ratings size what the comments point at: the
supports, scaled to rating units, are the prior of a ridge fit of each reply's rating on the
instructions it follows (``rating_prior`` 3 / 10 / 30 / 100 on seeds 100-139: 0.654 / 0.71 / 0.674 /
0.654, so 10). (2) Two instructions no checked reply followed together (where chance predicts several
would) are never proposed together: "Do not apologize." with "Open with a brief apology for the
trouble." was chosen on 2 of seeds 0-39 and 3 of 100-139 (the world reads the first directive and the
brevity of the second; a reader of the prompt sees a contradiction). Seeds 0-39: 0.787 [0.656, 0.879]
(ratings alone 0.756) at 190 calls / 59k tokens, vs GEPA +0.040 [+0.014, +0.067], vs gradient+gate+live
+0.037 [+0.014, +0.060]; ``tally_lean`` 0.709 at 41k tokens, vs GEPA +0.027 [+0.001, +0.054] and MIPROv2
+0.055 [+0.033, +0.078]: ahead of both at fewer tokens, GEPA by a thin margin (on seeds 100-139, the
whole benchmark: a tie with GEPA, +0.004 [-0.021, +0.029], tally itself +0.026 [+0.001, +0.050] at 1.37x
GEPA's tokens; there gradient's true-vs-shuffled check fails, -0.014 [-0.059, +0.031], tally's holds,
+0.059 [+0.028, +0.090]). True - shuffled
+0.034 [+0.008, +0.060] (was not significant). These 40 seeds were kind to it: on seeds 100-139 it
closes 0.698 (lean 0.562, below its earlier 0.60), on the untouched 140-179 0.648 (lean 0.653), and
over all 120 seeds 0.712 [0.644, 0.771] against 0.658 before the two changes, paired +0.009 [-0.002,
+0.019] in true score: ahead on every block but lean's development block, not significant. Target 0.8
NOT met (0.787 here). Where the rest is lost (diagnostic, reads hidden state on purpose): the same
search and replays given the held-out users' true mean effects as weights close 0.901 on seeds 100-139,
so about 0.2 of the gap is lost in estimating the weights from 72 rated, partly understood comments,
and 0.1 in the search. Tried on seeds 100-179 and not kept: supports calibrated for users praising
less often than they complain (a Mantel-Haenszel ratio of praise to request rates, pooled over
instructions) +0.005 [-0.004, +0.015] in true score (0.703 vs 0.673 gap closed); the same with a fixed
ratio of 0.5 +0.003; a pooled share without the exposure split -0.006.

HW (2 Dec), where the loss is, split more finely (diagnostics that read hidden state on purpose; scratch
code, seeds 100-139, where tally closes 0.698): the held-out users' true effects (0.901 above) know more
than any learner could, since the training users are another sample. With the *training* users' true
mean effects as weights, the same search closes 0.837 [0.763, 0.893]; the best <= 3 directives for the
training users by their true scores (a brute-force oracle on the training side) 0.923 [0.886, 0.955]. So
of the 0.30 tally leaves: ~0.08 is the training sample itself, ~0.09 the search (with exact weights,
12 replay messages 0.873, 20 candidates 0.869, a cap of 3 instructions 0.864; with estimated weights the
same changes were noise), ~0.14 estimating the weights. Per instruction, estimated weights correlate
0.67 with the training users' true effects (slope 0.60). Tried and not kept: the ratings fit with a
ridge-shrunk intercept per user (each user rates two replies, so one user's leniency could be taken out):
0.662 / 0.665 / 0.693 / 0.724 / 0.697 / 0.673 / 0.696 at a shrinkage of 0.3 / 1 / 2 / 3 / 5 / 10 / 30,
no trend, within the noise of 0.698. Target 0.8 NOT met; nothing changed in ``tally``.

    python benchmarks/optimization_quality.py [--seeds 40] [--seed-offset 0] [--json] [--quick]
    python benchmarks/optimization_quality.py --diagnose live+scorer --seeds 40 --seed-offset 100
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

import engram  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)

#: TallyOptimizer within GEPA's token budget (chosen on seeds 100-139: 0.60 there at 44.1k tokens; 0.562 after
#: the ratings fit and contradiction guard, 0.709 at 41k tokens on seeds 0-39)
TALLY_LEAN = {"read_batch": 24, "check_batch": 24, "candidates": 3}
FEEDBACK_IGNORING = ("seed", "kitchen_sink", "random_instructions")
ENGRAM = ("gradient", "metaprompt", "prompt_memory", "gradient+gate", "gradient+gate+live", "gradient+gate+live+scorer",
          "tally", "tally_lean")
DSPY = ("gepa", "mipro")


def run_live(world: Any, *, rounds: int = 3, train_users: int = 12, scorer: bool = False,
             results: list[Any] | None = None, gate_options: dict[str, Any] | None = None, **options: Any) -> Any:
    """gradient+gate+live: the gate judges 8 of the training trajectories (their logged replies stand
    for the incumbent's) with an 80 % interval, and the optimizer rolls back to the version users scored higher on live
    feedback (settings chosen on seeds 100-139). The same people, batches and guidance as ``_hard_methods.run_prompt_optimizer``.
    ``scorer``: the gate also fits a FeedbackScorer on every log seen so far and takes it as a second opinion
    (``learn_scorer=True, scorer_role="second_opinion"``; chosen on seeds 100-139)."""
    from engram.optimizers import CandidateGate, FeedbackJudge, GradientOptimizer
    from engram.prompts import Prompt
    from engram.testing import _hard_methods as M
    from engram.testing._hard_world import HARD_SEED_PROMPT

    lm = world.lm()
    engine = lm.engine
    calls0, tokens0 = engine.calls, engine.tokens
    extra: dict[str, Any] = {"learn_scorer": True, "scorer_role": "second_opinion"} if scorer else {}
    gate = CandidateGate(lm, judge=FeedbackJudge(lm), num_threads=1, max_trajectories=8, reuse_logged=True,
                         confidence=0.8, **{**extra, **(gate_options or {})})
    optimizer = GradientOptimizer(lm, gate=gate, val_fraction=0.0, rollback=True, **options)
    prompt = Prompt(name="support", template=HARD_SEED_PROMPT, update_instructions=M.GUIDANCE)
    history = []
    for r, batch in enumerate(M.train_batches(world, rounds, train_users)):
        result = optimizer(world.simulate(prompt.template, batch, offset=r), prompt)
        if results is not None:
            results.append((prompt, result))
        prompt = result.prompt
        history.append(str(prompt.template))
    return M.Outcome(str(prompt.template), calls=engine.calls - calls0, tokens=engine.tokens - tokens0,
                     history=history)


def diagnose(seeds: int, offset: int = 0, scorer: bool = False) -> None:
    """Per seed, why gradient+gate+live(+scorer) falls short of the oracle (reads hidden state: evaluation only).

    Causes (a seed can have several; the loss is oracle - final true score on the held-out users):
    good-rejected (a candidate the held-out users score >= 0.02 higher was rejected), harmful-accepted
    (one they score >= 0.02 lower was accepted), overflow (a candidate asks for more directives than the
    task model follows), rollback (the optimizer went back to an earlier version), never-proposed (an
    oracle directive, other than "no discount", never recommended), misled (a recommendation against
    the held-out users' mean weight, beyond 0.03), harmful-kept (such a directive is in the final prompt).
    """
    from engram.testing import _hard_methods as M
    from engram.testing import _hard_rules as R
    from engram.testing._hard_world import HARD_SEED_PROMPT, HardWorld

    def show(text: str) -> str:
        return ",".join(("+" if w else "-") + b for b, w in R.directives(text)) or "(none)"

    causes: dict[str, list[float]] = {}
    total = 0.0
    print(f"{'seed':>4} {'closed':>6}  {'oracle':<28} {'final':<28} causes")
    for seed in range(offset, offset + seeds):
        world = HardWorld(seed)
        people = M.held_out(world)
        weight = {b: sum(world.preferences(u)[b] for u in people) / len(people) for b in R.NAMES}

        def true(text: Any, world: Any = world, people: Any = people) -> float:
            return world.true_score(str(text), people)

        def against(b: str, wanted: bool, weight: dict[str, float] = weight) -> bool:
            return weight[b] * (1 if wanted else -1) < -0.03

        results: list[Any] = []
        final = run_live(world, scorer=scorer, results=results).prompt
        seed_v, oracle = true(HARD_SEED_PROMPT), world.oracle_prompt(people)
        loss = true(oracle) - true(final)
        total += loss
        found: list[str] = []
        recommended: set[tuple[str, bool]] = set()
        misled: set[str] = set()
        for given, result in results:
            base = result.metadata.get("rolled_back_to") or given.text
            for rec in result.metadata.get("recommendations") or []:
                drop = rec.lower().startswith(("drop", "remove"))
                for b, wanted in R.directives(rec):
                    if not drop:
                        recommended.add((b, wanted))
                        if against(b, wanted):
                            misled.add(("+" if wanted else "-") + b)
            for c in result.candidates:
                gain = true(c.prompt.text) - true(base)
                if gain >= 0.02 and not c.accepted:
                    found.append("good-rejected")
                if gain <= -0.02 and c.accepted:
                    found.append("harmful-accepted")
                if len(R.directives(c.prompt.text)) > R.INSTRUCTION_LIMIT:
                    found.append("overflow")
            if "rolled_back_to" in result.metadata:
                found.append("rollback")
        wanted_final = dict(R.directives(final))
        never = [("+" if w else "-") + b for b, w in R.directives(oracle)
                 if (b, w) != ("discount", False) and wanted_final.get(b) != w and (b, w) not in recommended]
        kept = [("+" if w else "-") + b for b, w in wanted_final.items() if against(b, w)]
        tags = list(dict.fromkeys(found))
        tags += ([f"never-proposed:{'/'.join(never)}"] if never else []) + \
            ([f"misled:{'/'.join(sorted(misled))}"] if misled else []) + ([f"harmful-kept:{'/'.join(kept)}"] if kept else [])
        for tag in tags:
            causes.setdefault(tag.split(":")[0], []).append(loss)
        gap = true(oracle) - seed_v
        closed = (true(final) - seed_v) / gap if gap > 0 else float("nan")
        print(f"{seed:>4} {closed:>6.2f}  {show(oracle):<28} {show(final):<28} {' '.join(tags)}")
    print("\ncause (seeds with it, their share of the total loss oracle - final; causes overlap):")
    for tag, losses in sorted(causes.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {tag:<18} {len(losses):>3} seeds  {sum(losses) / total:.2f}")


def methods(world: Any, quick: bool) -> dict[str, tuple[str, Any]]:
    from engram.testing import _hard_methods as M

    gepa_budget = 60 if quick else 120
    return {
        "kitchen_sink": ("baselines", M.kitchen_sink),
        "random_instructions": ("baselines", lambda: M.random_instructions(world)),
        "gradient_shuffled_feedback": ("baselines", lambda: M.run_prompt_optimizer(world, "gradient",
                                                                                   transform=M.shuffled)),
        "gradient_inverted_feedback": ("baselines", lambda: M.run_prompt_optimizer(world, "gradient",
                                                                                   transform=M.inverted)),
        "complaint_counting": ("baselines", lambda: M.complaint_counting(world)),
        "tally_shuffled_feedback": ("baselines", lambda: M.run_tally(world, transform=M.shuffled)),
        "tally_inverted_feedback": ("baselines", lambda: M.run_tally(world, transform=M.inverted)),
        "gradient": ("optimizers", lambda: M.run_prompt_optimizer(world, "gradient")),
        "metaprompt": ("optimizers", lambda: M.run_prompt_optimizer(world, "metaprompt")),
        "prompt_memory": ("optimizers", lambda: M.run_prompt_optimizer(world, "prompt_memory")),
        "gradient+gate": ("optimizers", lambda: M.run_prompt_optimizer(world, "gradient", gate=True)),
        "gradient+gate+live": ("optimizers", lambda: run_live(world)),
        "gradient+gate+live+scorer": ("optimizers", lambda: run_live(world, scorer=True)),
        "tally": ("optimizers", lambda: M.run_tally(world)),
        "tally_lean": ("optimizers", lambda: M.run_tally(world, **TALLY_LEAN)),
        "gepa": ("optimizers", lambda: M.run_gepa(world, budget=gepa_budget)),
        "mipro": ("optimizers", lambda: M.run_mipro(world)),
        "compile:gepa+engram_gradient": ("optimizers", lambda: M.run_feedback_route(
            world, "gepa", max_metric_calls=gepa_budget)),
        "compile:mipro": ("optimizers", lambda: M.run_feedback_route(world, "mipro")),
        "compile:bootstrap": ("optimizers", lambda: M.run_feedback_route(world, "bootstrap")),
    }


def run(seeds: int = 20, quick: bool = False, progress: bool = True, offset: int = 0) -> dict[str, Any]:
    from engram.testing import _hard_methods as M
    from engram.testing._hard_world import HARD_SEED_PROMPT, HardWorld

    rows: dict[str, dict[str, list[float]]] = {}
    groups: dict[str, str] = {"seed": "baselines", "oracle": "baselines"}
    for seed in range(offset, offset + seeds):
        start = time.time()
        world = HardWorld(seed)
        people = M.held_out(world)

        def record(name: str, score: float, calls: int = 0, tokens: int = 0) -> None:
            row = rows.setdefault(name, {"score": [], "calls": [], "tokens": []})
            row["score"].append(score)
            row["calls"].append(calls)
            row["tokens"].append(tokens)

        record("seed", world.true_score(HARD_SEED_PROMPT, people))
        record("oracle", world.true_score(world.oracle_prompt(people), people))
        for name, (group, make) in methods(world, quick).items():
            groups[name] = group
            out = make()
            record(name, world.true_score(out.prompt, people, demos=out.demos), out.calls, out.tokens)
        if progress:
            print(f"seed {seed}: {time.time() - start:.1f}s", file=sys.stderr)
    return {"rows": rows, "groups": groups, "seeds": seeds}


def analyse(raw: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    from scipy import stats

    rows, n = raw["rows"], raw["seeds"]
    seed = np.array(rows["seed"]["score"])
    gap = np.array(rows["oracle"]["score"]) - seed
    rng = np.random.default_rng(0)
    boot = rng.integers(0, n, size=(2000, n))

    def closed(scores: np.ndarray) -> tuple[float, list[float]]:
        gain = scores - seed
        value = float(gain.mean() / gap.mean())
        samples = gain[boot].mean(axis=1) / gap[boot].mean(axis=1)
        return value, [float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))]

    def paired(a: str, b: str) -> dict[str, float]:
        d = np.array(rows[a]["score"]) - np.array(rows[b]["score"])
        half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n)) if n > 1 and d.std() > 0 else 0.0
        return {"diff": float(d.mean()), "lo": float(d.mean() - half), "hi": float(d.mean() + half)}

    table: dict[str, dict[str, Any]] = {"optimizers": {}, "baselines": {}}
    for name, row in rows.items():
        value, ci = closed(np.array(row["score"]))
        table[raw["groups"][name]][name] = {"gap_closed": round(value, 3), "ci": [round(c, 3) for c in ci],
                                            "tokens": int(np.mean(row["tokens"])), "calls": int(np.mean(row["calls"])),
                                            "score": round(float(np.mean(row["score"])), 4)}
    best = max(ENGRAM, key=lambda k: np.mean(rows[k]["score"]))
    checks = {
        "feedback_ignoring_at_most_half": {k: table["baselines"][k]["gap_closed"] <= 0.5 for k in FEEDBACK_IGNORING},
        "true_beats_shuffled": paired("gradient", "gradient_shuffled_feedback"),
        "true_beats_inverted": paired("gradient", "gradient_inverted_feedback"),
        "tally_true_beats_shuffled": paired("tally", "tally_shuffled_feedback"),
        "tally_true_beats_inverted": paired("tally", "tally_inverted_feedback"),
    }
    valid = (all(checks["feedback_ignoring_at_most_half"].values())
             and checks["true_beats_shuffled"]["lo"] > 0 and checks["true_beats_inverted"]["lo"] > 0)
    others = (*FEEDBACK_IGNORING, "complaint_counting", "kitchen_sink", *DSPY, "compile:gepa+engram_gradient",
              "gradient+gate", "gradient+gate+live", "tally_lean", "tally_shuffled_feedback")
    versus = {other: paired(best, other) for other in others if other != best}
    if "tally_lean" in rows:  # the same optimizer within GEPA's token budget
        versus.update({f"{other} (tally_lean - {other})": paired("tally_lean", other) for other in DSPY})
    return {"table": table, "best_engram": best, "checks": checks, "valid": valid, "versus": versus,
            "seeds": n, "mean_gap": float(gap.mean())}


def report(result: dict[str, Any]) -> None:
    t = result["table"]
    print(f"SIMULATION: hard offline world (stand-in LMs, not an LLM), {result['seeds']} seeds, "
          f"30 held-out users each; mean seed->oracle gap {result['mean_gap']:.3f} (true score)")
    print(f"{'method':>30} {'held-out':>9} {'gap closed':>11} {'95% CI':>17} {'LM calls':>9} {'tokens':>8}")
    for group in ("baselines", "optimizers"):
        print(f"-- {group}")
        for name, r in t[group].items():
            print(f"{name:>30} {r['score']:>9.4f} {r['gap_closed']:>11.3f} "
                  f"[{r['ci'][0]:>6.3f}, {r['ci'][1]:>6.3f}] {r['calls']:>9} {r['tokens']:>8}")
    c = result["checks"]
    print("\nworld validity:")
    for k, ok in c["feedback_ignoring_at_most_half"].items():
        print(f"  {k} closes <= 0.5 of the gap: {'yes' if ok else 'NO'}")
    for k in ("true_beats_shuffled", "true_beats_inverted", "tally_true_beats_shuffled", "tally_true_beats_inverted"):
        d = c[k]
        who = "tally" if k.startswith("tally") else "gradient"
        print(f"  {who} {k.removeprefix('tally_').replace('_', ' ')}: diff {d['diff']:+.4f} [{d['lo']:+.4f}, "
              f"{d['hi']:+.4f}] {'yes' if d['lo'] > 0 else 'NO'}")
    print(f"  => world valid: {'YES' if result['valid'] else 'NO'}")
    best = result["best_engram"]
    print(f"\nengram's best prompt optimizer here: {best} (picked on these same seeds); paired diff of true score:")
    for other, d in result["versus"].items():
        pair = other[other.index("(") + 1:-1] if "(" in other else f"{best} - {other}"
        print(f"  {pair:>45}: {d['diff']:+.4f} [{d['lo']:+.4f}, {d['hi']:+.4f}]"
              f"{'  (lower bound > 0)' if d['lo'] > 0 else ''}")
    b = t["optimizers"][best]
    print(f"target: gap closed >= 0.8 -> {b['gap_closed']:.3f} ({'met' if b['gap_closed'] >= 0.8 else 'NOT met'})")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40, help="world seeds (at least 20 for the claims)")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    parser.add_argument("--quick", action="store_true", help="smaller GEPA budget")
    parser.add_argument("--seed-offset", type=int, default=0,
                        help="first world seed (choose settings on e.g. 100-139, report on 0-39)")
    parser.add_argument("--diagnose", choices=("live", "live+scorer"),
                        help="only print, per seed, why this engram optimizer falls short of the oracle")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    import dspy

    dspy.disable_logging()
    import contextlib

    if args.diagnose:
        with contextlib.redirect_stderr(sys.stdout):
            diagnose(args.seeds, args.seed_offset, scorer=args.diagnose == "live+scorer")
        return {}

    # DSPy's optimizers print progress to stdout; keep stdout for the figures (and exactly the JSON).
    with contextlib.redirect_stdout(sys.stderr):
        result = analyse(run(args.seeds, args.quick, progress=not args.json, offset=args.seed_offset))
    if args.json:
        strip = {g: {k: {f: v[f] for f in ("gap_closed", "ci", "tokens", "calls")} for k, v in rows.items()}
                 for g, rows in result["table"].items()}
        print(json.dumps({**strip, "seeds": result["seeds"]}))
        print(f"world valid: {'YES' if result['valid'] else 'NO'} (feedback-ignoring baselines <= 0.5 of the gap: "
              f"{all(result['checks']['feedback_ignoring_at_most_half'].values())}; true beats shuffled / inverted "
              f"with lower bound > 0: {result['checks']['true_beats_shuffled']['lo'] > 0} / "
              f"{result['checks']['true_beats_inverted']['lo'] > 0})", file=sys.stderr)
    else:
        report(result)
    return result


if __name__ == "__main__":
    main()
