"""The hard world (offline/hard): what makes it hard, and that its stand-ins cannot cheat."""

import dspy
import pytest

from engram.optimizers import CandidateGate, FeedbackJudge, GradientOptimizer, MetapromptOptimizer, TallyOptimizer
from engram.prompts import Prompt
from engram.testing import HARD_SEED_PROMPT, HardWorld, SealedError, offline_lm
from engram.testing import _hard_rules as R
from engram.testing import _hard_standins as S
from engram.testing._hard_methods import GUIDANCE, held_out


@pytest.fixture(scope="module")
def world():
    return HardWorld(seed=0)


def test_hidden_preferences_are_sealed(world):
    user = world.users(1)[0]
    assert world.preferences(user)  # readable outside
    with world.sealed():
        assert world.is_sealed
        with pytest.raises(SealedError):
            world.preferences(user)
        with pytest.raises(SealedError):
            world.satisfaction(user, world.plan(HARD_SEED_PROMPT, "I want a refund"))
    assert not world.is_sealed


def test_every_stand_in_runs_sealed(world, monkeypatch):
    """Judge, reflection and writers run while every read of hidden state would raise."""
    reads = []
    real = world._vault.get

    def spy(key):
        reads.append(world.is_sealed)
        return real(key)

    monkeypatch.setattr(world._vault, "get", spy)
    lm = world.lm()
    data = world.simulate(HARD_SEED_PROMPT, world.users(8))
    prompt = Prompt(name="support", template=HARD_SEED_PROMPT, update_instructions=GUIDANCE)
    reads.clear()  # simulating users reads their preferences (outside the stand-ins): that is allowed
    gate = CandidateGate(lm, judge=FeedbackJudge(lm), num_threads=1)
    for optimizer in (GradientOptimizer(lm, gate=gate), MetapromptOptimizer(lm)):
        result = optimizer(data, prompt)
        assert not result.errors
        assert result.candidates  # each proposed a real edit
    assert not TallyOptimizer(lm, task_lm=lm)(data, prompt).errors
    roles = lm.engine.roles
    assert {"judge", "reflection", "writer", "task", "reader", "checker"} <= set(roles)
    assert reads == []  # no stand-in even tried


@pytest.mark.parametrize("role", ["reflection", "writer", "reader"])
def test_a_stand_in_that_reads_hidden_preferences_is_caught(world, monkeypatch, role):
    """Cheating variants (the old world's flaws: a reflection reading preferences, a writer writing
    the oracle) fail loudly instead of winning quietly."""
    users = world.users(6)
    data = world.simulate(HARD_SEED_PROMPT, users)

    def cheating_reflection(call, w):
        wanted = [b for b, v in w.preferences(users[0]).items() if v > 0]
        return {"recommendations": [R.instruction_for(b) for b in wanted], "edit_warranted": True}

    def cheating_writer(call, w):
        return {"improved_prompt": w.oracle_prompt(users)}

    def cheating_reader(call, w):
        return {"requested_instructions": [R.instruction_for(b) for b, v in w.preferences(users[0]).items() if v > 0]}

    cheat = {"reflection": cheating_reflection, "writer": cheating_writer, "reader": cheating_reader}[role]
    roles = tuple((name, match, cheat if name == role else handle) for name, match, handle in S.ROLES)
    monkeypatch.setattr(S, "ROLES", roles)
    lm = world.lm()
    optimizer = TallyOptimizer(lm, task_lm=lm) if role == "reader" else GradientOptimizer(lm)
    result = optimizer(data, HARD_SEED_PROMPT)
    assert not result.improved and any("sealed world" in e for e in result.errors)


def test_judge_scores_what_it_sees_not_the_user(world):
    lm = world.lm()
    judge = FeedbackJudge(lm)
    message = "I was charged twice this month and want a refund."
    replies = [world.respond(p, message) for p in (HARD_SEED_PROMPT, world.kitchen_sink(),
                                                   HARD_SEED_PROMPT + "\n" + R.instruction_for("discount"))]
    users = world.users(12)
    judged, true = [], []
    for reply in replies:
        convo = f"user: {message}\nassistant: {reply}"
        judged.append(judge(prompt="p", conversation=convo).score)
        # naming a user changes nothing: the judge has no way to look anyone up
        assert judge(prompt="p", conversation=f"user: I'm {users[0].id}. {message}\nassistant: {reply}").score == judged[-1]
        plan = world.plan(HARD_SEED_PROMPT, message) if reply == replies[0] else None
        true.append(sum(world.feedback(u, reply, plan).score for u in users) / len(users))
    assert max(abs(j - t) for j, t in zip(judged, true)) > 0.05  # agreement below 1
    assert judged[2] > judged[0]  # the judge likes the discount too: it is tempting


def test_over_asking_and_the_discount_cost(world):
    people = held_out(world, 20)
    sink = world.plan(world.kitchen_sink(), "I forgot my password and can't log in.")
    assert sink.lost == 3 and len(sink.shown) < len(R.NAMES)
    assert world.true_score(world.kitchen_sink(), people) < world.true_score(HARD_SEED_PROMPT, people)
    with_discount = HARD_SEED_PROMPT + "\n" + R.instruction_for("discount")
    happier = [world.satisfaction(u, world.plan(with_discount, "refund please")) >=
               world.satisfaction(u, world.plan(HARD_SEED_PROMPT, "refund please")) for u in people]
    assert all(happier)  # users like it ...
    assert world.true_score(with_discount, people) < world.true_score(HARD_SEED_PROMPT, people)  # ... the business pays


def test_segments_conflict_and_users_dislike_things(world):
    weights = [world.preferences(u) for u in world.users(30)]
    assert any(w[b] < 0 for w in weights for b in R.NAMES)
    assert any(min(w[b] for w in weights) < 0 < max(w[b] for w in weights) for b in R.NAMES)


def test_comments_are_paraphrased_partial_and_sometimes_beside_the_point(world):
    data = world.simulate(HARD_SEED_PROMPT, world.users(20))
    comments = [t.feedback.comment.lower() for t in data]
    unknown = [b.missing[2] for b in R.BEHAVIOURS] + [b.excess[2] for b in R.BEHAVIOURS]
    assert any(any(p in c for p in unknown) for c in comments)  # paraphrases the stand-ins do not know
    assert any(any(p in c for p in R.IRRELEVANT[:5]) for c in comments)  # off-topic remarks
    assert any(any(ph in c for phrases in R.DEICTIC.values() for ph in phrases) for c in comments)  # "that last bit"


def test_offline_hard_is_registered():
    assert isinstance(offline_lm("hard"), dspy.LM)
