"""Registry fixes and verbs: the empty-prompt wedge, duplicate versions, model config, filter, rollback."""

from __future__ import annotations

import pytest

from engram.errors import NotFoundError
from engram.prompts import Prompt
from engram.tracking import DuplicateVersionError, export_prompt, load_prompt
from engram.tracking._backend import mlflow_client
from engram.tracking._registry import PromptRegistry


@pytest.fixture
def registry(tracking_uri) -> PromptRegistry:
    return PromptRegistry(tracking_uri)


def test_a_prompt_left_with_zero_versions_does_not_wedge_register(registry, tracking_uri):
    registry.register("support", "You help {company} customers.", "v1")
    # The state a kill between MLflow's create-prompt and create-version leaves behind.
    mlflow_client(tracking_uri).delete_prompt_version("support", "1")
    assert registry.versions("support") == []
    created = registry.register("support", "You help {company} customers warmly.", "after the crash")
    assert created.version >= 1
    assert registry.load("support").template == "You help {company} customers warmly."
    assert registry.versions("support") == [created.version]


def test_register_refuses_a_version_identical_to_the_latest(registry):
    first = registry.register("support", "You help {company} customers.", "v1")
    with pytest.raises(DuplicateVersionError, match="identical to the latest version 1") as caught:
        registry.register("support", "You help {company} customers.", "again")
    assert caught.value.existing.version == first.version
    assert registry.versions("support") == [1]  # nothing written
    reused = registry.register("support", "You help {company} customers.", on_duplicate="reuse")
    assert reused.version == 1 and registry.versions("support") == [1]
    # a new model config is a real change
    assert registry.register("support", "You help {company} customers.",
                             lm_config={"model_name": "gpt-4o-mini"}).version == 2


def test_model_config_is_stored_exported_and_loaded(registry, tmp_path):
    config = {"model_name": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 300,
              "response_format": {"type": "object", "properties": {"answer": {"type": "string"}}}}
    registry.register("support", Prompt(name="support", template="Hi {company}.", lm_config=config))
    registry.promote("support", 1, "production")
    stored = registry.load("support@production")
    assert stored.lm_config["model_name"] == "gpt-4o-mini" and stored.lm_config["temperature"] == 0.2
    assert stored.lm_config["response_format"] == config["response_format"]
    served = load_prompt("support@production", tracking_uri=registry.uri, fallback_dir=tmp_path)
    assert served.lm_config == stored.lm_config
    assert '"model_name": "gpt-4o-mini"' in export_prompt(served, "json")


def test_list_takes_mlflow_filters(registry):
    for name in ("support", "support-eu", "billing"):
        registry.register(name, f"You are the {name} agent.")
    assert registry.list(filter="name LIKE 'support%'") == ["support", "support-eu"]
    assert registry.list() == ["billing", "support", "support-eu"]


def test_rollback_moves_the_alias_back_and_alias_delete(registry):
    for text in ("One {x}.", "Two {x}.", "Three {x}."):
        registry.register("support", text)
    registry.promote("support", 1, "production")
    registry.promote("support", 3, "production")
    assert registry.rollback("support").version == 1  # back to where it was, not to version 2
    assert registry.aliases("support")["production"] == 1
    assert registry.alias_log("support", "production") == [1]
    with pytest.raises(NotFoundError, match="no earlier version"):
        registry.rollback("support")
    registry.delete_alias("support", "production")
    assert "production" not in registry.aliases("support")
    with pytest.raises(NotFoundError, match="no alias 'production'"):
        registry.delete_alias("support", "production")
