"""Prompt registry round trips on a SQLite store: register, load, promote, history, diff."""

from __future__ import annotations

import pytest

from engram.errors import NotFoundError, TemplateError, ValidationError
from engram.lm import Usage
from engram.optimizers._result import OptimizationResult
from engram.prompts import Prompt
from engram.tracking._registry import PromptRegistry, parse_ref, register_result
from engram.trajectories import TrajectoryDataset


@pytest.fixture
def registry(tracking_uri) -> PromptRegistry:
    return PromptRegistry(tracking_uri)


def test_single_brace_template_round_trips_and_is_stored_double_brace(registry):
    v1 = registry.register("support", "You help {company} customers. Be {tone}.", "first")
    assert v1.version == 1
    loaded = registry.load("support/1")
    assert loaded.template == "You help {company} customers. Be {tone}."
    assert loaded.variables == ["company", "tone"]
    assert loaded.commit_message == "first"
    # MLflow itself sees {{var}} variables, so its own format() works on the stored version.
    raw = registry.client.get_prompt_version("support", 1)
    assert raw.template == "You help {{company}} customers. Be {{tone}}."
    assert raw.variables == {"company", "tone"}


def test_double_brace_template_keeps_its_style(registry):
    registry.register("mustache", "Hello {{name}}, welcome.")
    assert registry.load("mustache").template == "Hello {{name}}, welcome."


def test_chat_template_round_trips(registry):
    chat = [{"role": "system", "content": "You are {company}'s agent."},
            {"role": "user", "content": "{question}"}]
    registry.register("chat", chat, "chat prompt")
    loaded = registry.load("chat/1")
    assert loaded.template == chat
    assert loaded.to_prompt().format(company="Acme", question="hi") == [
        {"role": "system", "content": "You are Acme's agent."}, {"role": "user", "content": "hi"}]


def test_prompt_object_keeps_its_guidance(registry):
    prompt = Prompt(name="p", template="Answer {q}.", update_instructions="stay short",
                    when_to_update="tone feedback")
    registry.register("p", prompt)
    back = registry.load("p").to_prompt()
    assert (back.update_instructions, back.when_to_update, back.version) == ("stay short", "tone feedback", "1")


def test_versions_aliases_history_and_diff(registry):
    registry.register("support", "You help {company} customers.", "v1", tags={"optimizer": "none"})
    registry.register("support", "You help {company} customers kindly.", "v2", tags={"score_after": 0.8125})
    registry.promote("support", 1, "production")
    assert registry.load("support@production").version == 1
    assert registry.load("support").version == 2                     # no ref -> latest
    assert registry.load("prompts:/support@latest").version == 2
    registry.promote("support", 2, "production")                     # the alias moves
    assert registry.load("support@production").version == 2
    assert registry.aliases("support") == {"production": 2}

    history = registry.history("support")
    assert [v.version for v in history] == [2, 1]
    assert history[0].tags["parent_version"] == "1"
    assert history[0].tags["score_after"] == "0.8125"
    assert history[0].user_tags["score_after"] == "0.8125"
    assert "engram.template_style" not in history[0].user_tags
    assert history[0].aliases == ["production"]
    diff = registry.diff("support/1", "support@production")
    assert "-You help {company} customers.\n" in diff
    assert "+You help {company} customers kindly.\n" in diff
    assert registry.list() == ["support"]
    frame = registry.history_frame("support")
    assert frame["version"].tolist() == [2, 1]
    assert frame["score_after"].tolist()[0] == 0.8125 and frame["aliases"].tolist() == ["production", ""]


@pytest.mark.parametrize("ref, expected", [
    ("support/9", "has no version 9; its versions are 1"),
    ("support@staging", "has no alias 'staging'; its aliases: @production -> 1"),
    ("nope", "No prompt named 'nope'"),
    ("nope@production", "registered prompts: support"),
])
def test_unknown_prompt_alias_or_version_says_what_exists(registry, ref, expected):
    registry.register("support", "Hi {name}")
    registry.promote("support", 1, "production")
    with pytest.raises(NotFoundError, match=expected):
        registry.load(ref)


def test_promote_unknown_version_or_reserved_alias_is_refused(registry):
    registry.register("support", "Hi {name}")
    with pytest.raises(NotFoundError, match="no version 4"):
        registry.promote("support", 4, "production")
    with pytest.raises(ValidationError, match="reserved"):
        registry.promote("support", 1, "latest")
    assert registry.aliases("support") == {}


def test_changed_variables_are_refused_unless_allowed_and_nothing_is_written(registry):
    registry.register("support", "You help {company} customers.")
    with pytest.raises(TemplateError, match="drops 'company'.*allow_variable_change"):
        registry.register("support", "You help customers.")
    with pytest.raises(TemplateError, match="invents 'user'"):
        registry.register("support", "You help {company} customers like {user}.")
    assert registry.versions("support") == [1]
    v2 = registry.register("support", "You help {user}.", allow_variable_change=True)
    assert v2.version == 2 and v2.variables == ["user"]


def test_mixed_brace_styles_are_refused(registry):
    with pytest.raises(TemplateError, match="mixes"):
        registry.register("mixed", "Hello {name} and {{other}}")
    assert registry.list() == []


def test_parse_ref():
    assert parse_ref("support@production") == ("support", None, "production")
    assert parse_ref("prompts:/support/3") == ("support", 3, None)
    assert parse_ref("support") == ("support", None, None)
    # a malformed reference is bad input, not a missing prompt: code that falls back to a default
    # prompt on NotFoundError must not hide a typo
    for bad in ("a/b/c", "nope@@x"):
        with pytest.raises(ValidationError, match="name/3") as info:
            parse_ref(bad)
        assert not isinstance(info.value, NotFoundError)


def test_register_result_tags_scores_dataset_and_parent(registry):
    registry.register("support", "You help {company} customers.", "baseline")
    original = registry.load("support").to_prompt()
    dataset = TrajectoryDataset([{"messages": [{"role": "user", "content": "hi"},
                                               {"role": "assistant", "content": "hello"}],
                                  "feedback": {"score": 0.2}}])
    result = OptimizationResult(prompt=original.with_template("You help {company} customers, step by step."),
                                original=original, optimizer="gradient", rationale="users wanted steps",
                                score_before=0.4, score_after=0.7, accepted=True, usage=Usage(calls=3))
    version = register_result(result, dataset=dataset, alias="staging", registry=registry)
    assert version.version == 2 and version.aliases == ["staging"]
    tags = registry.load("support@staging").tags
    assert tags["optimizer"] == "gradient"
    assert (tags["score_before"], tags["score_after"]) == ("0.4", "0.7")
    assert tags["dataset_hash"] == dataset.fingerprint
    assert tags["parent_version"] == "1"
    assert version.commit_message.startswith("gradient: score 0.400 -> 0.700")
