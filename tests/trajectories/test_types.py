from datetime import datetime, timezone

import pytest

from engram import Feedback, Message, Trajectory


class FakeLangChainMessage:
    def __init__(self, type, content, **extra):
        self.type = type
        self.content = content
        for k, v in extra.items():
            setattr(self, k, v)


def test_message_accepts_openai_dicts_content_parts_and_langchain_objects():
    assert Message.coerce({"role": "user", "content": "hi"}).content == "hi"
    parts = Message.coerce({"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]})
    assert parts.content == "ab"
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    with pytest.warns(UserWarning, match="image_url content parts were left out"):
        assert Message.coerce({"role": "user", "content": [{"type": "text", "text": "a"}, image]}).content == "a"
    ai = Message.coerce(FakeLangChainMessage("ai", "", tool_calls=[{"id": "c1", "name": "search", "args": {"q": "x"}}]))
    assert ai.role == "assistant"
    assert ai.tool_calls[0]["function"] == {"name": "search", "arguments": '{"q": "x"}'}
    assert Message.coerce(FakeLangChainMessage("human", "yo")).role == "user"
    with pytest.raises(TypeError, match="Cannot turn int into a Message"):
        Message.coerce(3)


def test_trajectory_from_dspy_history_keeps_turn_order():
    import dspy

    history = dspy.History(messages=[{"question": "2+2?", "answer": "4"}, {"role": "user", "content": "thanks"}])
    t = Trajectory(messages=history)
    assert [(m.role, m.content) for m in t.messages] == [("user", "2+2?"), ("assistant", "answer: 4"),
                                                          ("user", "thanks")]


def test_id_is_a_stable_content_hash_that_ignores_feedback():
    msgs = [{"role": "user", "content": "reset password"}]
    a = Trajectory(messages=msgs, user="u1", feedback={"score": 0.1})
    b = Trajectory(messages=msgs, user="u1", feedback={"score": 0.9})
    c = Trajectory(messages=msgs, user="u2")
    assert a.id == b.id and a.id.startswith("t_") and len(a.id) == 18
    assert a.id != c.id
    assert Trajectory(messages=msgs, id="mine").id == "mine"


@pytest.mark.parametrize("label,value", [("thumbs_up", 1.0), ("Down", 0.0), ("+1", 1.0), ("meh", None)])
def test_feedback_value_from_labels(label, value):
    assert Feedback(label=label).value == value


def test_feedback_score_range_and_precedence():
    assert Feedback(score=0.3, label="thumbs_up").value == 0.3
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Feedback(score=2)


def test_transcript_is_deterministic_and_shows_tool_calls():
    t = Trajectory(messages=[
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
        {"role": "tool", "content": "sunny", "tool_call_id": "1"},
    ], time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert t.transcript() == "user: weather?\nassistant: [calls weather({})]\ntool: sunny"
    assert t.transcript(include_system=True).startswith("system: be nice\n")
    assert t.last_response == ""


def test_a_boolean_score_is_refused_not_read_as_one() -> None:
    import pytest

    from engram.errors import ValidationError as EngramValidationError
    from engram.trajectories import Feedback

    with pytest.raises((ValueError, EngramValidationError), match="label"):
        Feedback(score=True)
    assert Feedback(score="0.5").score == 0.5  # a CSV cell
    import numpy as np

    assert Feedback(score=np.float32(0.25)).score == 0.25


def test_a_deeply_nested_json_file_is_a_clear_error(tmp_path) -> None:
    import pytest

    from engram.errors import ValidationError as EngramValidationError
    from engram.trajectories import TrajectoryDataset

    for name, text in (("deep.json", "[" * 200_000 + "]" * 200_000),
                       ("deep.jsonl", "[" * 200_000 + "]" * 200_000 + "\n")):
        (tmp_path / name).write_text(text)
        with pytest.raises(EngramValidationError, match="nested too deeply"):
            TrajectoryDataset.load(tmp_path / name)
