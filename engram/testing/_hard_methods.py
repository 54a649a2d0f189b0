"""Optimizers and baselines run the same way on a :class:`HardWorld` (for the quality benchmark and tests).

Every method starts from :data:`HARD_SEED_PROMPT` and gets the same people: ``rounds``
batches of fresh training users. engram's prompt optimizers read each batch's recorded
feedback (production logs under the current prompt; producing them costs no optimizer LM
call) and the developer's guidance "never offer discounts" (``Prompt.update_instructions``);
DSPy's optimizers query the same users through a metric that carries the same business rule.
Each returns a :class:`Outcome`: the final prompt, demo replies (if any), LM calls and tokens.

    world = HardWorld(seed=0)
    out = run_prompt_optimizer(world, "gradient", rounds=2, train_users=6)
    world.true_score(out.prompt, world.users(20, start=1000))
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from engram.testing import _hard_rules as R
from engram.testing._hard_world import HARD_SEED_PROMPT, HardEngine, HardUser, HardWorld

if TYPE_CHECKING:
    from engram.optimizers import OptimizerKind

GUIDANCE = "Never offer discounts or other compensation: the business pays for them."
HELD_OUT_START = 1000


@dataclass
class Outcome:
    prompt: str
    demos: list[str] = field(default_factory=list)
    calls: int = 0
    tokens: int = 0
    history: list[str] = field(default_factory=list)


def train_batches(world: HardWorld, rounds: int, train_users: int) -> list[list[HardUser]]:
    return [world.users(train_users, start=r * train_users) for r in range(rounds)]


def shuffled(data: Any, seed: int) -> Any:
    """Each trajectory gets another trajectory's feedback (the same feedback, detached from its reply)."""
    from engram.trajectories import TrajectoryDataset

    items = list(data)
    feedback = [t.feedback for t in items]
    random.Random(seed).shuffle(feedback)
    return TrajectoryDataset([t.model_copy(update={"feedback": f}) for t, f in zip(items, feedback)])


def inverted(data: Any, seed: int) -> Any:
    """Scores flipped (1 - s) and comments turned around (asks for what users did not want)."""
    from engram.trajectories import TrajectoryDataset

    out = []
    for t in data:
        fb = t.feedback.model_copy(update={"score": 1.0 - float(t.feedback.score),
                                           "comment": R.invert_comment(t.feedback.comment or "")})
        out.append(t.model_copy(update={"feedback": fb}))
    return TrajectoryDataset(out)


def _engine(lm: Any) -> HardEngine:
    return lm.engine


def run_prompt_optimizer(world: HardWorld, kind: OptimizerKind, *, rounds: int = 3, train_users: int = 12,
                         gate: bool = False, transform: Callable[[Any, int], Any] | None = None, lm: Any = None) -> Outcome:
    """engram's ``kind`` optimizer for ``rounds`` rounds of fresh feedback (``transform`` corrupts it)."""
    from engram.optimizers import create_prompt_optimizer

    lm = lm or world.lm()
    config: dict[str, Any] = {}
    if gate:
        from engram.optimizers import CandidateGate, FeedbackJudge

        config["gate"] = CandidateGate(lm, judge=FeedbackJudge(lm), num_threads=1)
    optimizer = create_prompt_optimizer(lm, kind=kind, config=config)
    return _rounds(world, optimizer, _engine(lm), rounds, train_users, transform)


def _rounds(world: HardWorld, optimizer: Any, engine: HardEngine, rounds: int, train_users: int,
            transform: Callable[[Any, int], Any] | None) -> Outcome:
    """Each round: the batch's logs under the current prompt (``transform`` corrupts them), then one optimizer call."""
    from engram.prompts import Prompt

    calls0, tokens0 = engine.calls, engine.tokens
    prompt = Prompt(name="support", template=HARD_SEED_PROMPT, update_instructions=GUIDANCE)
    history = []
    for r, batch in enumerate(train_batches(world, rounds, train_users)):
        data = world.simulate(prompt.template, batch, offset=r)
        if transform is not None:
            data = transform(data, world.seed * 100 + r)
        prompt = optimizer(data, prompt).prompt
        history.append(str(prompt.template))
    return Outcome(str(prompt.template), calls=engine.calls - calls0, tokens=engine.tokens - tokens0, history=history)


def run_tally(world: HardWorld, *, rounds: int = 3, train_users: int = 12,
              transform: Callable[[Any, int], Any] | None = None, lm: Any = None, **options: Any) -> Outcome:
    """engram's ``TallyOptimizer`` (reads, checks and replays with the same stand-in LM) on the same batches."""
    from engram.optimizers import TallyOptimizer

    lm = lm or world.lm()
    return _rounds(world, TallyOptimizer(lm, task_lm=lm, **options), _engine(lm), rounds, train_users, transform)


def complaint_counting(world: HardWorld, *, rounds: int = 3, train_users: int = 12) -> Outcome:
    """A simple optimizer (no LM): each round, add the behaviour most comments say is missing."""
    prompt = HARD_SEED_PROMPT
    history = []
    for r, batch in enumerate(train_batches(world, rounds, train_users)):
        data = world.simulate(prompt, batch, offset=r)
        comments = [((t.feedback.comment if t.feedback is not None else None) or "").lower() for t in data]
        counts = {b.name: sum(any(p in comment for p in b.missing) for comment in comments)
                  for b in R.BEHAVIOURS}
        asked = dict(R.directives(prompt))
        options = [b for b in counts if b not in asked and counts[b] >= 0.2 * len(data)]
        if options:
            prompt += "\n" + R.instruction_for(max(options, key=lambda b: counts[b]))
        history.append(prompt)
    return Outcome(prompt, history=history)


def _program():
    import dspy

    class Reply(dspy.Signature):
        message: str = dspy.InputField()
        response: str = dspy.OutputField()

    return dspy.Predict(Reply.with_instructions(HARD_SEED_PROMPT))


def examples(world: HardWorld, users: list[HardUser], per_user: int = 2) -> list[Any]:
    import dspy

    return [dspy.Example(message=u.message(world.seed * 7 + u.index * 3 + k), user=u.id, index=u.index)
            .with_inputs("message") for u in users for k in range(per_user)]


def user_metric(world: HardWorld) -> Callable[..., Any]:
    """A GEPA-style metric: the training user's rating and comment on the program's reply."""
    import dspy

    def metric(gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None) -> Any:
        score, comment = world.rated(HardUser(gold.user, gold.index), str(pred.response))
        return dspy.Prediction(score=score, feedback=comment)

    return metric


def _split(world: HardWorld, rounds: int, train_users: int) -> tuple[list[Any], list[Any]]:
    people = [u for batch in train_batches(world, rounds, train_users) for u in batch]
    cut = max(1, len(people) * 2 // 3)
    return examples(world, people[:cut]), examples(world, people[cut:], per_user=1)


def _compiled_outcome(compiled: Any, engine: HardEngine, calls0: int, tokens0: int) -> Outcome:
    demos = [str(d.get("response")) for d in getattr(compiled, "demos", []) if d.get("response")]
    return Outcome(compiled.signature.instructions, demos=demos, calls=engine.calls - calls0,
                   tokens=engine.tokens - tokens0)


def run_gepa(world: HardWorld, *, rounds: int = 3, train_users: int = 12, budget: int = 120,
             proposer: Literal["gradient", "metaprompt"] | None = None, lm: Any = None) -> Outcome:
    """DSPy's GEPA (its own proposer, or engram's ``proposer`` through FeedbackTeleprompter)."""
    import dspy

    lm = lm or world.lm()
    engine = _engine(lm)
    calls0, tokens0 = engine.calls, engine.tokens
    train, val = _split(world, rounds, train_users)
    with dspy.context(lm=lm):
        if proposer is None:
            tp = dspy.GEPA(metric=user_metric(world), reflection_lm=lm, max_metric_calls=budget, num_threads=1,
                           seed=world.seed, use_merge=False, reflection_minibatch_size=3)
        else:
            from engram.optimizers import FeedbackTeleprompter

            tp = FeedbackTeleprompter("gepa", metric=user_metric(world), reflection_lm=lm, proposer=proposer,
                                      max_metric_calls=budget, seed=world.seed)
        compiled = tp.compile(_program(), trainset=train, valset=val)
    return _compiled_outcome(compiled, engine, calls0, tokens0)


def run_mipro(world: HardWorld, *, rounds: int = 3, train_users: int = 12, num_candidates: int = 4,
              num_trials: int = 6, demos: int = 2, lm: Any = None) -> Outcome:
    """DSPy's MIPROv2 on the users' ratings (scalar), with its grounded proposer on the same LM."""
    import dspy

    lm = lm or world.lm()
    engine = _engine(lm)
    calls0, tokens0 = engine.calls, engine.tokens
    train, val = _split(world, rounds, train_users)
    rate = user_metric(world)

    def scalar(gold: Any, pred: Any, trace: Any = None) -> float | bool:
        score = float(rate(gold, pred).score)
        return score >= 0.75 if trace is not None else score

    with dspy.context(lm=lm):
        tp = dspy.MIPROv2(metric=scalar, prompt_model=lm, task_model=lm, auto=None, num_candidates=num_candidates,
                          max_bootstrapped_demos=demos, max_labeled_demos=0, num_threads=1, seed=world.seed,
                          verbose=False)
        compiled = tp.compile(_program(), trainset=train, valset=val, num_trials=num_trials, minibatch=False)
    return _compiled_outcome(compiled, engine, calls0, tokens0)


def kitchen_sink() -> Outcome:
    return Outcome(HardWorld.kitchen_sink())


def random_instructions(world: HardWorld) -> Outcome:
    return Outcome(HardWorld.random_prompt(random.Random(f"random-{world.seed}")))


def held_out(world: HardWorld, n: int = 30) -> list[HardUser]:
    return world.users(n, start=HELD_OUT_START)


def run_feedback_route(world: HardWorld, route: Literal["gepa", "mipro", "bootstrap"], *, rounds: int = 3,
                       train_users: int = 12, lm: Any = None, **options: Any) -> Outcome:
    """engram's ``FeedbackTeleprompter`` (gepa / mipro / bootstrap) on recorded seed-prompt logs, judged by the stand-in judge."""
    import dspy

    from engram.optimizers import FeedbackJudge, FeedbackTeleprompter
    from engram.trajectories import TrajectoryDataset

    lm = lm or world.lm()
    engine = _engine(lm)
    calls0, tokens0 = engine.calls, engine.tokens
    logs = [t for r, batch in enumerate(train_batches(world, rounds, train_users))
            for t in world.simulate(HARD_SEED_PROMPT, batch, offset=r)]
    cut = len(logs) * 2 // 3

    class Reply(dspy.Signature):
        conversation: str = dspy.InputField()
        response: str = dspy.OutputField()

    by_route: dict[str, dict[str, Any]] = {
        "gepa": {"max_metric_calls": 120, "proposer": "gradient", "guidance": GUIDANCE},
        "mipro": {"num_candidates": 4, "num_trials": 6},
        "bootstrap": {"max_bootstrapped_demos": 2, "max_labeled_demos": 2}}
    defaults = by_route[route]
    tp = FeedbackTeleprompter(route, judge=FeedbackJudge(lm), reflection_lm=lm, seed=world.seed,
                              **{**defaults, **options})
    with dspy.context(lm=lm):
        compiled = tp.compile(dspy.Predict(Reply.with_instructions(HARD_SEED_PROMPT)),
                              trainset=TrajectoryDataset(logs[:cut]), valset=TrajectoryDataset(logs[cut:]))
    return _compiled_outcome(compiled, engine, calls0, tokens0)
