"""engram.trajectories.coerce: every accepted shape gives the same trajectories; bad input names the item."""

from __future__ import annotations

import dspy
import pandas as pd
import pytest

from engram.errors import ValidationError
from engram.trajectories import Feedback, Trajectory, TrajectoryDataset, coerce, coerce_feedback

MESSAGES = [{"role": "user", "content": "My invoice is wrong"}, {"role": "assistant", "content": "Sorry!"}]


@pytest.fixture
def dataset() -> TrajectoryDataset:
    return TrajectoryDataset([
        Trajectory(messages=MESSAGES, feedback=Feedback(score=0.2, comment="too short"), user="u1"),
        Trajectory(messages=MESSAGES[:1], user="u2"),
    ])


def test_dataset_list_dicts_and_dataframe_agree(dataset):
    expected = list(dataset)
    assert coerce(dataset) == expected
    assert coerce(expected) == expected
    assert coerce([t.model_dump() for t in expected]) == expected
    assert coerce(dataset.to_pandas()) == expected
    assert coerce(expected[0]) == [expected[0]]
    assert coerce(expected[0].model_dump()) == [expected[0]]


def test_langmem_pairs_map_feedback_by_type():
    [a, b, c, d] = coerce([(MESSAGES, "too terse"), (MESSAGES, 0.4), (MESSAGES, False),
                           (MESSAGES, {"score": 1, "feedback": "great"})])
    assert a.feedback.comment == "too terse" and b.feedback.score == 0.4
    assert c.feedback.label == "down"
    assert d.feedback.score == 1.0 and d.feedback.comment == "great" and d.feedback.extra == {"feedback": "great"}
    assert coerce_feedback("  ") is None


def test_dspy_examples_with_messages_or_from_to_dspy_examples(dataset):
    [with_messages] = coerce([dspy.Example(messages=MESSAGES, user="u9").with_inputs("messages")])
    assert with_messages.user == "u9" and with_messages.messages[0].content == "My invoice is wrong"
    back = coerce(dataset.to_dspy_examples())
    assert [t.id for t in back] == [t.id for t in dataset]  # the ids survive the round trip
    assert back[0].feedback.score == 0.2 and back[0].messages[-1].content == "Sorry!"
    assert back[1].feedback is None


@pytest.mark.parametrize(("value", "message"), [
    (None, "No trajectories given"),
    ("a string", "must be a TrajectoryDataset.*wrap a single conversation"),
    ("logs/week1.JSONL", r"load the file first: TrajectoryDataset\.load\('logs/week1\.JSONL'\)"),  # a path
    (42, "must be a TrajectoryDataset"),
    ([MESSAGES[0], 7], "item #0"),  # a message is not a trajectory
    ([(MESSAGES, None), 7], "item #1: expected a Trajectory"),
    ([{"messages": []}], "item #0"),
    ([dspy.Example(question="q").with_inputs("question")], "needs 'messages' or 'conversation'"),
])
def test_bad_input_is_an_engram_error_naming_the_item(value, message):
    with pytest.raises(ValidationError, match=message):
        coerce(value)


def test_every_entry_point_uses_the_one_coercion():
    """The optimizers' LangMem name and the batch processor accept what coerce accepts."""
    from engram.modules._batch import _coerce
    from engram.optimizers import coerce_trajectories

    frame = pd.DataFrame(TrajectoryDataset([Trajectory(messages=MESSAGES)]).to_pandas())
    assert coerce_trajectories(frame) == coerce(frame) == _coerce(frame)
    with pytest.raises(ValidationError, match="process\\(\\) dataset"):
        _coerce("not data")
