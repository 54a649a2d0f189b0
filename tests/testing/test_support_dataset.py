"""datasets/support.jsonl: loads, is reproducible, and agrees with the simulated world."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

from engram.testing._traits import complained_traits, get_trait
from engram.testing._world import SEED_PROMPT, World
from engram.trajectories import TrajectoryDataset

DATASETS = Path(__file__).resolve().parents[2] / "datasets"


@pytest.fixture(scope="module")
def data() -> TrajectoryDataset:
    return TrajectoryDataset.load(DATASETS / "support.jsonl")


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=0)


def _builder():
    spec = importlib.util.spec_from_file_location("engram_build_support", DATASETS / "build_support.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shape(data):
    assert len(data) >= 60
    per_user = Counter(t.user for t in data)
    assert len(per_user) >= 8 and min(per_user.values()) >= 3
    assert len({t.thread for t in data}) == len(data)
    for t in data:
        assert t.prompt_name == "support" and t.prompt_version in ("1", "2")
        assert t.messages[0].role == "system" and t.time is not None and t.tags
        assert 0.0 <= t.score <= 1.0 and t.feedback.comment


def test_file_is_what_the_builder_makes(data):
    rebuilt = _builder().build()
    assert [t.to_record() for t in rebuilt] == [t.to_record() for t in data]


def test_scores_and_comments_follow_the_hidden_preferences(data, world):
    for t in data:
        user = world.user(t.user)
        reply = t.last_response
        assert t.score == pytest.approx(world.satisfaction(user, reply), abs=1e-4)
        unmet = {p for p in user.preferences if not get_trait(p).detect(reply)}
        assert set(complained_traits(t.feedback.comment)) == unmet
        # only the feedback complains: a reflector reading whole transcripts is not misled
        assert complained_traits(t.transcript(include_system=True)) == ()
        # the judge, reading the conversation, finds the same user and the same score
        assert world.identify(t.transcript()) in (user, None)


def test_seed_prompt_scores_low_and_comments_teach_the_fix(data, world):
    v1 = [t.score for t in data if t.prompt_version == "1"]
    v2 = [t.score for t in data if t.prompt_version == "2"]
    assert max(v1) <= 0.25 and sum(v2) / len(v2) > sum(v1) / len(v1)
    comments = " ".join(t.feedback.comment for t in data)
    learned = world.improve(SEED_PROMPT, comments)
    assert world.mean_satisfaction(learned, world.users(8)) == 1.0
    assert world.mean_satisfaction(SEED_PROMPT, world.users(8)) == 0.0


def test_users_state_facts_a_memory_extractor_can_find(data, world):
    said: dict[str, str] = {}
    for t in data:
        said[t.user] = said.get(t.user, "") + " ".join(m.content for m in t.user_turns)
    for user_id, text in said.items():
        user = world.user(user_id)
        for value in (user.name, user.city, user.plan, user.product, user.contact):
            assert value in text, (user_id, value)
