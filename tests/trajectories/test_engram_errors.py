"""Public models raise engram.ValidationError (not pydantic's), and file-format mistakes say how to fix them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydantic
import pytest

import engram
from engram.prompts import Prompt
from engram.trajectories import Feedback, Message, Trajectory, TrajectoryDataset

DATA = Path(__file__).resolve().parents[2] / "datasets" / "support.jsonl"
HELLO = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(("make", "expected"), [
    (lambda: Prompt(name="", template="x"), "Prompt: field 'name': the prompt name is empty"),
    (lambda: Prompt(name="a", template="  "), "field 'template': the template is empty"),
    (lambda: Prompt(name="a", template="x", temperature=0.2), "field 'temperature': unknown field; an LM setting goes in lm_config"),
    (lambda: Prompt(name="a", template="x", updat_instructions="y"), "did you mean 'update_instructions'"),
    (lambda: Prompt.coerce(""), "the template is empty"),
    (lambda: Prompt(name="a", template={"role": "system"}), "Prompt: field 'template': the template must be text or "
                                                            "a list of chat messages"),
    (lambda: Prompt.coerce({"template": "x", "nmae": "a"}), "field 'nmae': unknown field (did you mean 'name'?)"),
    (lambda: Prompt(name="my prompt", template="x"), "invalid prompt name 'my prompt'"),
    (lambda: Prompt(name="a/b", template="x"), "invalid prompt name 'a/b'"),
    (lambda: Message(role="bot", content="x"), "Message: field 'role'"),
    (lambda: Message.coerce({"role": "user"}), "non-empty 'content'"),
    (lambda: Feedback(score=2), "Feedback: field 'score': score must be a number in [0, 1], got 2"),
    (lambda: Trajectory(messages=[]), "Trajectory: field 'messages': the conversation is empty"),
    (lambda: Trajectory.model_validate({"messages": HELLO, "feedbak": {}}), "did you mean 'feedback'"),
    (lambda: Trajectory(messages=[{"role": "user", "content": "x", "foo": 1}]), "field 'messages.0.foo': unknown"),
])
def test_model_errors_are_engram_validation_errors(make, expected):
    with pytest.raises(engram.ValidationError) as info:
        make()
    assert expected in str(info.value)
    assert isinstance(info.value, engram.EngramError) and isinstance(info.value, ValueError)
    assert not isinstance(info.value, pydantic.ValidationError)
    assert isinstance(info.value.__cause__, pydantic.ValidationError)  # the original is kept


@pytest.mark.parametrize(("make", "expected"), [
    # a misspelled key is told first, though pydantic lists the "missing" field it causes first
    (lambda: Prompt(name="a", tempalte="x"), "Prompt: field 'tempalte': unknown field (did you mean 'template'?)"),
    (lambda: Trajectory.model_validate({"mesages": HELLO}), "Trajectory: field 'mesages': unknown field; did you mean "
                                                            "'messages'?"),
    # nothing close to a field: the missing field is the news
    (lambda: Trajectory.model_validate({"a": 1}), "Trajectory: field 'messages': required field is missing"),
])
def test_a_misspelled_field_is_reported_before_the_field_it_leaves_missing(make, expected):
    with pytest.raises(engram.ValidationError) as info:
        make()
    assert str(info.value).startswith(expected)


def test_registrable_names_and_tenant_names_are_accepted():
    for name in ("support", "support-bot", "acme.support", "v2_prompt", "7up"):
        assert Prompt(name=name, template="x").name == name


def test_a_bad_line_in_a_file_still_names_line_and_field(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"messages": HELLO}) + "\n" + json.dumps({"messages": HELLO, "feedback": {"score": 3}}) + "\n")
    with pytest.raises(engram.ValidationError, match=r"d.jsonl:2: field 'feedback.score'"):
        TrajectoryDataset.load(path)


@pytest.mark.parametrize("record", [
    {"messages": HELLO, "feedbak": {"score": 1}},               # unknown field, with a did-you-mean
    {"messages": HELLO, "colour": "blue"},                      # unknown field, no close name
    {"messages": [{"role": "usr", "content": "hi"}]},           # a nested field
    {"messages": []},
])
def test_a_file_line_says_what_the_model_says_plus_where(tmp_path, record):
    # one explanation of a bad record, whether it comes from Python or from line 1 of a file
    with pytest.raises(engram.ValidationError) as in_python:
        Trajectory.model_validate(record)
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(engram.ValidationError) as in_file:
        TrajectoryDataset.load(path)
    assert in_file.value.reason == in_python.value.reason
    assert str(in_file.value) == f"{path}:1: field '{in_python.value.field}': {in_python.value.reason}"


def test_a_nested_column_that_is_not_json_shows_what_it_should_hold(tmp_path):
    import pandas as pd

    with pytest.raises(engram.ValidationError) as info:
        TrajectoryDataset.from_pandas(pd.DataFrame({"messages": ["hi there"]}))
    assert "field 'messages'" in str(info.value) and '[{"role": "user", "content": "hi"}]' in str(info.value)
    assert "got 'hi there'" in str(info.value)
    path = tmp_path / "d.csv"
    path.write_text('messages,tags\n"[{""role"": ""user"", ""content"": ""x""}]",vip\n')
    with pytest.raises(engram.ValidationError, match=r"d\.csv:2: field 'tags': .*e\.g\. \[\"vip\"\]; got 'vip'"):
        TrajectoryDataset.load(path)


@pytest.mark.parametrize(("record", "loader"), [
    ({"message_tree_id": "t1", "prompt": {"text": "hi", "role": "prompter", "replies": []}}, "load_oasst"),
    ({"sample_id": "conv-1", "conversation": {}, "qa": []}, "load_locomo"),
])
def test_public_data_that_needs_a_loader_is_told_which(tmp_path, record, loader):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(engram.ValidationError, match=rf"d\.jsonl:1: this is .*, not a trajectory; "
                                                     rf"engram\.loaders\.{loader}\(path\)") as info:
        TrajectoryDataset.load(path)
    assert "did you mean" not in str(info.value)  # OpenAssistant's 'prompt' is no misspelt 'prompt_name'


def test_an_unknown_key_is_told_first_only_when_it_is_why_a_field_is_missing():
    with pytest.raises(engram.ValidationError) as info:  # 'prompt' resembles 'prompt_name', which is optional
        Trajectory.model_validate({"prompt": "x"})
    assert str(info.value).startswith("Trajectory: field 'messages': required field is missing")


def test_an_unknown_trajectory_field_points_to_metadata():
    with pytest.raises(engram.ValidationError, match=r"field 'colour': unknown field; remove it or put it "
                                                     r"under 'metadata'"):
        Trajectory.model_validate({"messages": HELLO, "colour": "blue"})


def _rows(n: int = 3) -> list[dict]:
    return [json.loads(line) for line in DATA.read_text().splitlines()[:n]]


def test_jsonl_saved_as_json_suggests_jsonl(tmp_path):
    path = tmp_path / "data.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    with pytest.raises(engram.ValidationError, match=r"rename the file to \.jsonl"):
        TrajectoryDataset.load(path)


@pytest.mark.parametrize("indent", [None, 1])
def test_json_array_saved_as_jsonl_suggests_json(tmp_path, indent):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(_rows(), indent=indent))
    with pytest.raises(engram.ValidationError, match=r"JSON array.*rename the file to \.json"):
        TrajectoryDataset.load(path)


def test_upper_case_suffix_and_bom_are_read(tmp_path):
    upper = tmp_path / "data.JSONL"
    shutil.copy(DATA, upper)
    assert len(TrajectoryDataset.load(upper)) == len(TrajectoryDataset.load(DATA))
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + DATA.read_bytes())
    assert len(TrajectoryDataset.load(bom)) == len(TrajectoryDataset.load(DATA))
    bom_json = tmp_path / "bom.json"
    bom_json.write_text(json.dumps(_rows()), encoding="utf-8-sig")
    assert len(TrajectoryDataset.load(bom_json)) == 3
    saved = TrajectoryDataset.load(DATA)[:2].save(tmp_path / "out.CSV")
    assert len(TrajectoryDataset.load(saved)) == 2


def test_a_directory_is_an_engram_error(tmp_path):
    folder = tmp_path / "data.jsonl"
    folder.mkdir()
    with pytest.raises(engram.ValidationError, match="is a directory"):
        TrajectoryDataset.load(folder)


@pytest.mark.parametrize(("value", "expected"), [
    ({"messages": HELLO}, "wrap a single one in a list"),
    (None, "takes a list of trajectories, got NoneType"),
    ("data.jsonl", "TrajectoryDataset.load"),
])
def test_dataset_refuses_what_is_not_a_list(value, expected):
    with pytest.raises(engram.ValidationError, match=expected):
        TrajectoryDataset(value)


def test_split_refuses_a_string_fraction():
    data = TrajectoryDataset.load(DATA)
    with pytest.raises(engram.ValidationError, match="val_fraction must be a number"):
        data.split("0.2")
