"""Experiment configs: valid ones load; every kind of mistake names the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from engram.errors import ConfigurationError, ValidationError
from engram.runner._config import load_config, loads_config
from engram.runner._yaml_source import ConfigError

GOOD = """\
name: demo
dataset:
  path: {data}
  split: {{val_fraction: 0.25, seed: 1}}
lms:
  task: ${{ENGRAM_TEST_LM:-offline/support}}
prompt:
  prompt:
    name: support
    template: "You help {{company}} customers."
  optimizer:
    kind: gradient
    settings: {{max_reflection_steps: 2}}
budget:
  max_calls: 100
sweep:
  trials: 4
  search_space:
    prompt.optimizer.kind: {{choices: [gradient, metaprompt]}}
    prompt.optimizer.rounds: {{low: 1, high: 2}}
"""


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("")
    return path


def good(data: Path) -> str:
    return GOOD.format(data=data)


def error_for(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        loads_config(text, source="exp.yaml")
    return info.value


def test_valid_config_loads_with_defaults(data, monkeypatch):
    monkeypatch.delenv("ENGRAM_TEST_LM", raising=False)
    cfg = loads_config(good(data))
    assert cfg.prompt.optimizer.settings == {"max_reflection_steps": 2}
    assert cfg.lms.task == "offline/support"
    assert cfg.dataset.path == data.resolve()
    assert cfg.sweep.search_space["prompt.optimizer.rounds"].is_int
    assert cfg.memory.enabled is False and cfg.prompt.gate.enabled is True


def test_env_interpolation_follows_the_environment(data, monkeypatch):
    monkeypatch.setenv("ENGRAM_TEST_LM", "openai/gpt-4o-mini")
    assert loads_config(good(data)).lms.task == "openai/gpt-4o-mini"


def test_lm_falls_back_to_settings(data, monkeypatch):
    text = good(data).replace("  task: ${ENGRAM_TEST_LM:-offline/support}\n", "  judge: offline/echo\n")
    monkeypatch.setenv("ENGRAM_LM", "openai/gpt-4o-mini")
    cfg = loads_config(text)
    assert cfg.lms.resolved("task") == "openai/gpt-4o-mini"
    assert cfg.lms.resolved("reflection") == "openai/gpt-4o-mini"
    assert cfg.lms.resolved("judge") == "offline/echo"


@pytest.mark.parametrize("old,new,line,key,words", [
    ("kind: gradient", "kind: gradeint", 12, "prompt.optimizer.kind", "'metaprompt'"),
    ("  optimizer:\n", "  optimiser:\n", 11, "prompt.optimiser", "allowed here are"),
    ("max_calls: 100", "max_calls: lots", 15, "budget.max_calls", "valid integer"),
    ("max_calls: 100", "max_calls: -1", 15, "budget.max_calls", "greater than 0"),
    ("    name: support\n", "", 8, "prompt.prompt.name", "missing"),
    ("prompt.optimizer.rounds", "prompt.optimizer.roundz", 20, "sweep.search_space.prompt.optimizer.roundz",
     "name an existing setting"),
    ("{low: 1, high: 2}", "{low: 1, high: 20}", 20, "sweep.search_space.prompt.optimizer.rounds",
     "less than or equal to 10"),
])
def test_mistakes_name_key_and_line(data, old, new, line, key, words):
    err = error_for(good(data).replace(old, new))
    assert err.line == line and err.field == key
    assert words in str(err)
    assert str(err).startswith(f"exp.yaml:{line}: field '{key}'")
    assert isinstance(err, ValidationError) and isinstance(err, ConfigurationError)


@pytest.mark.parametrize("old,new,line,key,guess", [
    ("  prompt:\n    name", "  promt:\n    name", 8, "prompt.promt", "'prompt'"),   # also makes 'prompt' missing
    ("  optimizer:\n", "  optimiser:\n", 11, "prompt.optimiser", "'optimizer'"),
    ("dataset:\n", "datset:\n", 2, "datset", "'dataset'"),
    ("budget:\n", "steps:\n", 14, "steps", None),                                    # nothing close: no guess
])
def test_a_misspelled_key_is_told_first_with_the_key_it_resembles(data, old, new, line, key, guess):
    err = error_for(good(data).replace(old, new))
    assert (err.line, err.field) == (line, key), str(err)
    if guess:
        assert f"(did you mean {guess}?)" in str(err)
    else:
        assert "did you mean" not in str(err)


def test_missing_dataset_file_names_the_key(data):
    err = error_for(good(data).replace(str(data), "nowhere/data.jsonl"))
    assert (err.line, err.field) == (3, "dataset.path")
    assert "file not found" in str(err) and "nowhere/data.jsonl" in str(err)


def test_a_missing_file_names_each_place_looked_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the config's own directory is the working directory
    config = tmp_path / "exp.yaml"
    config.write_text("name: x\ndataset:\n  path: nowhere.jsonl\nmemory:\n  namespace: [m, '{user_id}']\n")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert str(info.value).count(str(tmp_path / "nowhere.jsonl")) == 1


def test_duplicate_key_is_refused(data):
    err = error_for(good(data) + "  trials: 9\n")
    assert err.line == 21 and "appears twice" in str(err) and "line 17" in str(err)


def test_unset_variable_without_default(data):
    err = error_for(good(data).replace("${ENGRAM_TEST_LM:-offline/support}", "${ENGRAM_SURELY_UNSET}"))
    assert (err.line, err.field) == (6, "lms.task") and "ENGRAM_SURELY_UNSET" in str(err)


@pytest.mark.parametrize("unclosed", ["${ENGRAM_TEST_LM:-offline/support", "${ENGRAM_TEST_LM",
                                      "${ENGRAM_TEST_LM:-${ENGRAM_LM:-offline/support}"])
def test_unclosed_variable_reference_is_refused_at_its_line(data, monkeypatch, unclosed):
    monkeypatch.setenv("ENGRAM_TEST_LM", "openai/gpt-4o-mini")  # set or not, the reference is broken
    err = error_for(good(data).replace("${ENGRAM_TEST_LM:-offline/support}", unclosed))
    assert (err.line, err.field) == (6, "lms.task") and "no closing '}'" in str(err)


def test_a_dollar_brace_that_is_no_reference_is_left_alone(data):
    text = good(data).replace("You help {company} customers.", "Prices look like ${ 5 } or ${.")
    assert loads_config(text).prompt.prompt.template == "Prices look like ${ 5 } or ${."


def test_yaml_syntax_error_has_a_line():
    err = error_for("name: x\nprompt: [1,\n  b: 2\n")
    assert err.line is not None and "not valid YAML" in str(err)


def test_nothing_enabled_is_an_error():
    err = error_for("name: x\n")
    assert "nothing to run" in str(err)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_apply_before_validation(data, tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(good(data))
    cfg = load_config(path, overrides={"prompt.optimizer.kind": "metaprompt", "budget.max_tokens": 5})
    assert cfg.prompt.optimizer.kind == "metaprompt" and cfg.budget.max_tokens == 5


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).parents[2] / "experiments").glob("*.yaml")))
def test_shipped_experiments_validate(name, monkeypatch):
    root = Path(__file__).parents[2]
    monkeypatch.chdir(root)  # shipped configs name files relative to the repository root
    try:
        cfg = load_config(root / "experiments" / name)
    except ConfigError as err:
        # LoCoMo lives beside the repository (../shared/data), not in it.
        if "file not found" in str(err) and "../shared/" in str(err):
            pytest.skip(f"{name}: external data not present ({err})")
        raise
    assert cfg.name
    if cfg.lms.task is not None:
        assert cfg.lms.task == "offline/support"  # shipped configs default to the labeled stand-in


# -- issue 11, items 7, 11 and 17: what used to fail late (or never) is refused at load -----------

MEMORY = """\
memory:
  enabled: true
  namespace:
    - memories
    - "PART"
"""


def memory_config(data: Path, part: str) -> str:
    return good(data) + MEMORY.replace("PART", part)


@pytest.mark.parametrize("part,words", [
    ("{user_id", "not a valid template"),                 # item 7: a typo merged every user into one
    ("{nosuchfield}", "not filled by the runner"),         # item 11: exited 0 with 0 memories
    ("{user_id}{thread_id}", "own part"),                  # item 7: u1 + 0 == u + 10
    ("{user_id}-{thread_id}", "own part"),                 # item 7: acme-eu + bob == acme + eu-bob
])
def test_bad_namespace_templates_are_refused_at_their_line(data, part, words):
    text = memory_config(data, part)
    err = error_for(text)
    line = text.splitlines().index(f'    - "{part}"') + 1
    assert (err.line, err.field) == (line, "memory.namespace.1") and words in str(err)


def test_namespace_fields_the_runner_fills_are_accepted(data):
    assert loads_config(memory_config(data, "{thread_id}")).memory.namespace == ["memories", "{thread_id}"]


def test_namespace_may_name_string_metadata_of_the_data(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}], "metadata": {"org": "acme"}}\n')
    assert loads_config(memory_config(path, "{org}")).memory.namespace[1] == "{org}"


def test_empty_namespace_is_refused(data):
    err = error_for(good(data) + "memory:\n  enabled: true\n  namespace: []\n")
    assert err.field == "memory.namespace" and err.line == len(good(data).splitlines()) + 3


def test_empty_prompt_template_is_refused(data):
    err = error_for(good(data).replace('template: "You help {company} customers."', 'template: ""'))
    assert (err.line, err.field) == (10, "prompt.prompt.template")


def test_recursive_yaml_alias_is_a_config_error_not_a_recursion_error():
    err = error_for("name: x\nretrieval: &loop\n  enabled: true\n  path: *loop\n")
    assert "alias" in str(err) and err.line is not None


@pytest.mark.parametrize("name", ["..", ".", "..."])
def test_a_name_that_escapes_the_runs_directory_is_refused(data, name):
    err = error_for(good(data).replace("name: demo", f"name: '{name}'"))
    assert (err.line, err.field) == (1, "name") and "escape" in str(err)


def test_a_misspelt_optimizer_setting_is_refused_at_its_line(data):
    err = error_for(good(data).replace("settings: {max_reflection_steps: 2}",
                                       "settings:\n      max_reflection_stepz: 2"))
    assert (err.line, err.field) == (14, "prompt.optimizer.settings.max_reflection_stepz")
    assert "max_reflection_steps" in str(err)  # the arguments it does take
    assert "(did you mean 'max_reflection_steps'?)" in str(err)


def test_an_invalid_optimizer_setting_value_is_refused(data):
    err = error_for(good(data).replace("settings: {max_reflection_steps: 2}",
                                       "settings: {max_reflection_steps: 0}"))
    assert err.field == "prompt.optimizer.settings" and "max_reflection_steps" in str(err)


@pytest.mark.parametrize("old,new,key,words", [
    ("    name: support\n", '    name: "my support prompt"\n', "prompt.prompt.name", "Invalid prompt name"),
    ("budget:", "  registry: {alias: \"prod uction\"}\nbudget:", "prompt.registry.alias", "Invalid alias"),
    ("budget:", "  registry: {alias: latest}\nbudget:", "prompt.registry.alias", "reserved"),
])
def test_registry_name_and_alias_are_checked_before_any_work(data, old, new, key, words):
    # The registry step is the last but one: a bad name or alias must not wait for it.
    err = error_for(good(data).replace(old, new))
    assert err.field == key and words in str(err)


def test_registry_names_are_not_checked_when_nothing_is_registered(data):
    text = good(data).replace("    name: support\n", '    name: "my support prompt"\n')
    cfg = loads_config(text.replace("budget:", "  registry: {enabled: false, alias: \"prod uction\"}\nbudget:"))
    assert cfg.prompt.prompt.name == "my support prompt"
