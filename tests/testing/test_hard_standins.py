"""The hard world's stand-ins: served by DSPy request structure, partial readers, DSPy's optimizers on one world."""

import logging

import dspy
import pytest

from engram.testing import HARD_SEED_PROMPT, HardWorld
from engram.testing import _hard_methods as M
from engram.testing import _hard_rules as R
from engram.testing import _hard_standins as S


@pytest.fixture(autouse=True)
def quiet():
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


def _unit(reply_prompt: str, comment: str, world=None) -> S.Unit:
    world = world or HardWorld(0)
    return S.Unit(world.respond(reply_prompt, "I want a refund for a double charge."), comment)


def test_readers_understand_feedback_only_partly():
    apology = HARD_SEED_PROMPT + "\n" + R.instruction_for("apology")
    known, unknown = R.BY_NAME["apology"].excess[0], R.BY_NAME["apology"].excess[2]
    assert S.signals(_unit(apology, known + "."), careful=True)[0] == [("apology", -1)]
    assert S.signals(_unit(apology, unknown + "."), careful=True)[0] == []  # a paraphrase it does not know
    # "the opening line was unnecessary" points at the reply: only a reasoning reader resolves it
    deictic = R.DEICTIC[("first", -1)][0] + "."
    assert S.signals(_unit(apology, deictic), careful=True)[0] == [("apology", -1)]
    assert S.signals(_unit(apology, deictic), careful=False)[0] == []
    # next to a different reply the same words mean something else (why shuffled feedback misleads)
    verbose = _unit(HARD_SEED_PROMPT + "\nDo not apologize.", deictic)
    assert R.ends(verbose.reply)[0] == "verbose" and S.signals(verbose, careful=True)[0] == [("concise", 1)]
    # an off-topic remark with a stray keyword misleads
    stray = _unit(HARD_SEED_PROMPT, "My ticket from last month is still open.")
    assert "ticket" not in R.shows(stray.reply) and S.signals(stray, careful=True)[0] == [("ticket", 1)]


def test_requests_are_recognised_by_structure_not_wording():
    class Anything(dspy.Signature):
        """Completely different prose that names no engram step."""

        prompt: str = dspy.InputField()
        notes: str = dspy.InputField()
        recommendations: list[str] = dspy.OutputField()

    world = HardWorld(0)
    data = world.simulate(HARD_SEED_PROMPT, world.users(10))
    from engram.optimizers import format_trajectories

    with dspy.context(lm=world.lm()):
        out = dspy.Predict(Anything)(prompt=HARD_SEED_PROMPT, notes=format_trajectories(data).text)
    assert out.recommendations and all(R.directives(r) for r in out.recommendations)


def test_demos_change_what_the_task_model_does():
    """BootstrapFewShot's demos reach the task stand-in, which imitates what most demos do."""
    world = HardWorld(0)
    shown = HARD_SEED_PROMPT + "\n" + R.instruction_for("ticket") + "\n" + R.instruction_for("steps")
    demos = [world.respond(shown, m) for m in ("I forgot my password and can't log in.",
                                               "I was charged twice this month and want a refund.")]

    class Reply(dspy.Signature):
        message: str = dspy.InputField()
        response: str = dspy.OutputField()

    program = dspy.Predict(Reply.with_instructions(HARD_SEED_PROMPT))
    message = "How do I cancel my subscription?"
    with dspy.context(lm=world.lm()):
        before = program(message=message).response
        program.demos = [dspy.Example(message="q", response=d) for d in demos]
        after = program(message=message).response
    assert {"ticket", "steps"} <= R.shows(after) and not {"ticket", "steps"} <= R.shows(before)


def test_copro_gepa_and_mipro_produce_real_candidates():
    world = HardWorld(0)
    train, val = M._split(world, 1, 12)
    rate = M.user_metric(world)

    def scalar(gold, pred, trace=None):
        return float(rate(gold, pred).score)

    lm = world.lm()
    with dspy.context(lm=lm):
        copro = dspy.COPRO(prompt_model=lm, metric=scalar, breadth=3, depth=1).compile(
            M._program(), trainset=train, eval_kwargs={"num_threads": 1, "display_progress": False})
        gepa = dspy.GEPA(metric=rate, reflection_lm=lm, max_metric_calls=40, num_threads=1, seed=0,
                         use_merge=False, track_stats=True, reflection_minibatch_size=3).compile(
            M._program(), trainset=train, valset=val)
    assert lm.engine.roles.get("instruction-proposer") and lm.engine.roles.get("gepa-proposer")
    assert copro.signature.instructions != HARD_SEED_PROMPT
    candidates = {c["self"] if isinstance(c, dict) and "self" in c else str(c)
                  for c in gepa.detailed_results.candidates}
    assert len(candidates) > 1  # GEPA's own proposer wrote new instructions from the users' comments
