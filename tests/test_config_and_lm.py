import dspy
import pytest

import engram
from engram.lm import build_lm, get_lm, track_usage
from engram.testing._scripted import scripted_lm


def test_no_lm_configured_is_a_clear_error_not_a_silent_stand_in():
    with dspy.context(lm=None):
        with pytest.raises(engram.ConfigurationError, match="ENGRAM_LM") as info:
            get_lm()
    assert "engram.configure(lm=" in str(info.value)


def test_lm_from_environment_name(monkeypatch):
    monkeypatch.setenv("ENGRAM_LM", "openai/gpt-4o-mini")
    lm = get_lm()
    assert isinstance(lm, dspy.LM) and lm.model == "openai/gpt-4o-mini"
    assert get_lm() is lm  # built once per name
    assert get_lm("judge") is not lm and get_lm("judge").model == "openai/gpt-4o-mini"


def test_configure_overrides_environment_and_roles_fall_back(monkeypatch):
    monkeypatch.setenv("ENGRAM_LM", "openai/gpt-4o-mini")
    reflection = scripted_lm({"answer": "x"})
    engram.configure(lm="anthropic/claude-3-5-haiku-latest", reflection_lm=reflection)
    assert get_lm().model == "anthropic/claude-3-5-haiku-latest"
    assert get_lm("reflection") is reflection
    assert get_lm("judge") is reflection  # judge -> reflection -> task
    explicit = scripted_lm({"answer": "y"})
    assert get_lm("task", lm=explicit) is explicit


def test_configure_rejects_unknown_settings_and_bad_names():
    with pytest.raises(engram.ConfigurationError, match="Unknown setting"):
        engram.configure(lmm="openai/x")
    with pytest.raises(engram.ConfigurationError, match="no provider prefix"):
        build_lm("gpt-4o")


def test_tracking_uri_defaults_to_sqlite_under_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGRAM_HOME", str(tmp_path / "h"))
    assert engram.get_settings().resolved_tracking_uri == f"sqlite:///{tmp_path / 'h' / 'mlflow.db'}"
    engram.configure(tracking_uri="http://127.0.0.1:5000")
    assert engram.get_settings().resolved_tracking_uri == "http://127.0.0.1:5000"


def test_usage_is_counted_per_scope_and_nested_scopes_both_count():
    lm = scripted_lm({"answer": "ok"})
    predict = dspy.Predict("question -> answer")
    with dspy.context(lm=lm), track_usage() as outer:
        predict(question="one")
        with track_usage() as inner:
            predict(question="two")
            predict(question="three")
    assert inner.calls == 2 and outer.calls == 3
    assert outer.prompt_tokens > inner.prompt_tokens > 0
    assert outer.completion_tokens > 0 and outer.cost == 0.0
    assert (outer + inner).calls == 5
