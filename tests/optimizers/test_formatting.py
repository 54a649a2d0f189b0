from engram.optimizers._formatting import (
    coerce_trajectories,
    feedback_fields,
    format_trajectories,
)
from engram.trajectories import Feedback, TrajectoryDataset, coerce_feedback

from .conftest import convo


def test_rendering_is_deterministic_with_ids_and_named_fields(trajectories):
    first = format_trajectories(trajectories).text
    assert first == format_trajectories(list(reversed(trajectories))).text
    assert f"### {trajectories[0].id} | score=0 | comment=\"too long\"" in first
    assert "{'score'" not in first and "Feedback(" not in first
    # worst first: the 0.0 conversation comes before the 1.0 one
    assert first.index(trajectories[0].id) < first.index(trajectories[1].id)


def test_identical_conversations_are_shown_once():
    same = [convo("hi", "hello", 0.0, "too long") for _ in range(3)] + [convo("hi", "hello", 1.0, "good")]
    text = format_trajectories(same).text
    assert text.count("user: hi") == 1
    assert "×3 | score=0" in text and "score=1 | comment=\"good\"" in text


def test_a_budget_for_one_conversation_shows_the_worst_and_says_so(trajectories):
    rendered = format_trajectories(trajectories, max_tokens=60)
    assert rendered.truncated
    assert trajectories[1].id in rendered.omitted  # the praised one goes first
    assert "left out to fit the token budget" in rendered.text


def test_a_budget_that_cannot_show_everything_keeps_the_best_rated_for_contrast():
    failures = [convo(f"question {i} " + "x" * 300, "a reply that missed", 0.0, "wrong") for i in range(30)]
    liked = [convo(f"question {i} " + "y" * 300, "a reply users liked", 1.0, "great") for i in range(30, 40)]
    rendered = format_trajectories([*liked, *failures], max_tokens=1000)
    assert rendered.truncated and len(rendered.text) <= 1000 * 4 + 80   # the budget, plus the closing line
    shown = set(rendered.shown)
    best = [t.id for t in liked if t.id in shown]
    worst = [t.id for t in failures if t.id in shown]
    assert best and len(worst) >= 2 * len(best)         # failures first, a quarter for the best
    text = rendered.text
    assert max(text.index(i) for i in worst) < min(text.index(i) for i in best)   # shown worst first


def test_long_messages_are_cut_in_the_middle():
    t = convo("x" * 5000, "ok", 0.0, "bad")
    text = format_trajectories([t], max_message_chars=100).text
    assert "chars cut]" in text and len(text) < 400


def test_langmem_pairs_and_datasets_are_accepted(trajectories):
    pairs = [([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], "too casual"),
             ([{"role": "user", "content": "hi"}], 0.5),
             ([{"role": "user", "content": "hi"}], {"score": 1, "note": "x"})]
    out = coerce_trajectories(pairs)
    assert out[0].feedback.comment == "too casual"
    assert out[1].feedback.score == 0.5
    assert out[2].feedback.extra == {"note": "x"}
    assert coerce_trajectories(TrajectoryDataset(trajectories)) == trajectories


def test_feedback_fields():
    assert feedback_fields(None) == "no feedback"
    assert feedback_fields(Feedback(label="down", comment='said "no"')) == 'label="down" | comment="said \\"no\\""'
    assert coerce_feedback("") is None
