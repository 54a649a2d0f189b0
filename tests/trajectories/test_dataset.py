import json

import pandas as pd
import pytest

from engram import Trajectory, TrajectoryDataset, ValidationError


def make_dataset(n_users=6, per_user=4):
    items = []
    for u in range(n_users):
        for i in range(per_user):
            items.append(Trajectory(
                messages=[{"role": "user", "content": f"u{u} question {i} ünïcode"},
                          {"role": "assistant", "content": f"answer {i}", "name": "bot"}],
                feedback={"score": (u + i) % 5 / 4, "label": "thumbs_up" if i % 2 else None,
                          "comment": f"comment {i}" if i % 3 else None, "extra": {"k": [1, 2]}},
                user=f"user{u}", thread=f"thread{u}-{i % 2}", prompt_name="support", prompt_version="1",
                tags=["a", "b"], metadata={"nested": {"x": 1}},
                time="2026-03-01T10:00:00+00:00",
            ))
    # a thread shared by two users links them for splitting purposes
    items.append(Trajectory(messages=[{"role": "user", "content": "shared"}], user="user0", thread="thread1-0"))
    return TrajectoryDataset(items, name="synthetic")


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_round_trip_through_every_file_format_is_lossless(tmp_path, suffix):
    ds = make_dataset()
    path = ds.save(tmp_path / f"data{suffix}")
    again = TrajectoryDataset.load(path)
    assert again == ds
    assert [t.id for t in again] == [t.id for t in ds]


def test_round_trip_through_a_dataframe():
    ds = make_dataset()
    df = ds.to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == len(ds)
    assert {"feedback_score", "feedback_comment", "user", "thread", "messages"} <= set(df.columns)
    assert TrajectoryDataset.from_pandas(df) == ds


def test_split_never_puts_a_user_or_thread_on_both_sides():
    ds = make_dataset(n_users=10)
    train, val = ds.split(val_fraction=0.3, seed=1)
    assert len(train) + len(val) == len(ds) and len(val) > 0 and len(train) > 0
    assert not {t.user for t in train} & {t.user for t in val}
    assert not {t.thread for t in train} & {t.thread for t in val}
    # user0 and user1 share a thread, so they land together
    sides = {t.user: ("train" if t in train.trajectories else "val") for t in ds}
    assert sides["user0"] == sides["user1"]
    assert ds.split(val_fraction=0.3, seed=1) == (train, val)  # deterministic
    assert ds.split(val_fraction=0.3, seed=2) != (train, val)


def test_split_rejects_bad_fraction():
    with pytest.raises(ValidationError, match="val_fraction"):
        make_dataset().split(val_fraction=1.5)


def test_to_dspy_examples_separates_the_reply_from_its_context():
    ex = make_dataset().to_dspy_examples()[1]
    assert ex.conversation == "user: u0 question 1 ünïcode"
    assert ex.response == "answer 1"
    assert ex.score == 0.25 and ex.label == "thumbs_up" and ex.comment == "comment 1"
    assert set(ex.inputs().keys()) == {"conversation"}


def test_stats_counts_feedback_and_lengths():
    s = make_dataset(n_users=2, per_user=4).stats()
    assert s["trajectories"] == 9 and s["users"] == 2 and s["with_feedback"] == 8
    assert s["labels"] == {"thumbs_up": 4}
    assert s["score_0_25"] + s["score_25_50"] + s["score_50_75"] + s["score_75_100"] == 8
    assert s["messages_max"] == 2


def test_fingerprint_changes_with_feedback():
    ds = make_dataset()
    other = make_dataset()
    assert ds.fingerprint == other.fingerprint
    other.trajectories[0] = other[0].model_copy(update={"feedback": None})
    assert ds.fingerprint != other.fingerprint


def test_save_writes_nothing_on_unsupported_suffix(tmp_path):
    with pytest.raises(ValidationError, match="unsupported file type '.txt'"):
        make_dataset().save(tmp_path / "x.txt")
    assert not list(tmp_path.iterdir())


def test_jsonl_lines_are_compact_records(tmp_path):
    ds = TrajectoryDataset([Trajectory(messages=[{"role": "user", "content": "x"}])])
    path = ds.save(tmp_path / "a.jsonl")
    record = json.loads(path.read_text())
    assert record == {"id": ds[0].id, "messages": [{"role": "user", "content": "x"}]}
