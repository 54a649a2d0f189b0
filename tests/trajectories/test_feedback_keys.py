"""Feedback dicts with LangMem-style score keys (user_score, rating, *_score; a number in [0, 1] or a
bool) are read as scores wherever trajectories are coerced; an unreadable one is an error naming
the keys looked for, never a silently empty feedback."""

from __future__ import annotations

import json

import pytest

from engram.errors import EngramError, ValidationError
from engram.trajectories import Trajectory, TrajectoryDataset, coerce, coerce_feedback

MESSAGES = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


@pytest.mark.parametrize(("given", "score", "label"), [
    ({"user_score": 0}, 0.0, None),
    ({"rating": 0.8, "comment": "fine"}, 0.8, None),
    ({"helpfulness_score": "0.25"}, 0.25, None),
    ({"user_rating": True}, None, "up"),
    ({"score": False}, None, "down"),
    ({"score": 0.4, "user_score": 1}, 0.4, None),  # an explicit score wins
])
def test_score_keys_are_read(given, score, label):
    [t] = coerce([(MESSAGES, given)])
    assert (t.feedback.score, t.feedback.label) == (score, label)
    assert t.score == (score if score is not None else (1.0 if label == "up" else 0.0))


def test_the_original_key_is_kept_in_extra():
    assert coerce_feedback({"user_score": 0}).extra == {"user_score": 0}


def test_unreadable_feedback_is_an_error_naming_the_keys_looked_for():
    with pytest.raises(ValidationError, match="'user_score', 'rating'.*'\\*_score'"):
        coerce([(MESSAGES, {"stars": None, "n": 3})])
    with pytest.raises(ValidationError, match="outside \\[0, 1\\].*rescale"):
        coerce([(MESSAGES, {"rating": 4})])
    with pytest.raises(ValidationError, match="'user_score' must be a number"):
        coerce([(MESSAGES, {"user_score": "great"})])


def test_trajectories_and_datasets_read_score_keys_too(tmp_path):
    assert Trajectory(messages=MESSAGES, feedback={"user_score": 1}).score == 1.0
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"messages": MESSAGES, "feedback": {"rating": 0.5}}) + "\n")
    assert TrajectoryDataset.load(path)[0].score == 0.5
    path.write_text(json.dumps({"messages": MESSAGES, "feedback": {"rating": 5}}) + "\n")
    with pytest.raises(EngramError, match="rating"):
        TrajectoryDataset.load(path)
    # the strict record format is unchanged otherwise: a bool score and unknown keys are refused
    with pytest.raises(ValueError, match="label"):
        Trajectory(messages=MESSAGES, feedback={"score": True})
