from pathlib import Path

import dspy
import pytest

import engram
from engram.lm import build_lm, get_lm, track_usage
from engram.testing._scripted import scripted_lm


def test_no_lm_configured_is_a_clear_error_not_a_silent_stand_in():
    with dspy.context(lm=None), pytest.raises(engram.ConfigurationError, match="ENGRAM_LM") as info:
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
    with pytest.raises(engram.ConfigurationError, match=r"Unknown setting.*did you mean 'lm' for 'lmm'\?"):
        engram.configure(lmm="openai/x")
    with pytest.raises(engram.ConfigurationError) as info:
        engram.configure(zzz=1)
    assert "did you mean" not in str(info.value) and "known settings are: chroma_url" in str(info.value)
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


# -- one precedence rule: explicit > dspy context > engram settings > error ------------------------
@pytest.fixture
def spy_prefix():
    """``spy/<name>`` builds a scripted LM and records it, so a test sees whether settings were used."""
    from engram.lm import _prefixes, register_lm_prefix

    built: list[dspy.BaseLM] = []

    def factory(name: str) -> dspy.BaseLM:
        lm = scripted_lm({"answer": "from settings"}, name=name)
        built.append(lm)
        return lm

    register_lm_prefix("spy/", factory)
    yield built
    _prefixes.pop("spy/", None)


def test_resolve_order_explicit_then_context_then_settings_then_error(spy_prefix, monkeypatch):
    from engram.lm import resolve

    monkeypatch.setenv("ENGRAM_LM", "spy/env")
    context, explicit = scripted_lm({"answer": "c"}), scripted_lm({"answer": "e"})
    with dspy.context(lm=context):
        assert resolve("task", explicit) is explicit
        assert all(resolve(role) is context for role in ("task", "reflection", "judge"))
    assert spy_prefix == []  # the settings were never consulted while a context LM was active
    with dspy.context(lm=None):
        assert resolve("judge") is spy_prefix[0]  # judge -> reflection -> task: ENGRAM_LM
        monkeypatch.delenv("ENGRAM_LM")
        with pytest.raises(engram.ConfigurationError, match="dspy.context"):
            resolve("reflection")
    with pytest.raises(engram.ConfigurationError, match="Unknown LM role"):
        resolve("critic")  # type: ignore[arg-type]


def test_resolve_name_puts_each_override_before_its_setting(monkeypatch):
    from engram.lm import resolve_name

    monkeypatch.setenv("ENGRAM_LM", "openai/env-task")
    monkeypatch.setenv("ENGRAM_REFLECTION_LM", "openai/env-reflection")
    assert resolve_name("task") == "openai/env-task"
    assert resolve_name("judge") == "openai/env-reflection"
    assert resolve_name("judge", {"task": "openai/cfg-task"}) == "openai/env-reflection"
    assert resolve_name("judge", {"reflection": "openai/cfg-r"}) == "openai/cfg-r"
    assert resolve_name("task", {"task": "openai/cfg-task", "judge": "x/y"}) == "openai/cfg-task"


def test_runner_lm_config_uses_the_same_rule(monkeypatch):
    from engram.runner import ExperimentConfig

    monkeypatch.setenv("ENGRAM_REFLECTION_LM", "openai/env-reflection")
    lms = ExperimentConfig.model_fields["lms"].annotation(task="openai/cfg-task")
    assert lms.resolved("task") == "openai/cfg-task"
    assert lms.resolved("judge") == "openai/env-reflection"


def test_extractor_optimizer_and_gate_all_use_the_context_lm(spy_prefix, monkeypatch):
    """Inside one dspy.context(lm=X) with ENGRAM_LM set, every engram part calls X."""
    from engram.modules import MemoryExtractor
    from engram.optimizers import CandidateGate, GradientOptimizer
    from engram.testing import simulated_lm
    from engram.trajectories import TrajectoryDataset

    monkeypatch.setenv("ENGRAM_LM", "spy/env")
    monkeypatch.setenv("ENGRAM_REFLECTION_LM", "spy/env-reflection")
    trajectories = list(TrajectoryDataset.load("datasets/support.jsonl"))[:6]
    x = simulated_lm(seed=0)
    with dspy.context(lm=x):
        with track_usage() as extract:
            MemoryExtractor()(trajectories[0].messages)
        with track_usage() as optimize:
            result = GradientOptimizer(gate=CandidateGate()).forward(trajectories, "You are a support agent.")
        with track_usage() as gate:
            CandidateGate().score(result.prompt, trajectories[0])
    assert spy_prefix == [], "an engram part built the ENGRAM_* LM inside a dspy.context"
    for usage in (extract, optimize, gate):
        assert usage.calls > 0 and set(usage.by_model) == {x.model}
    assert not result.errors, result.errors


def test_configure_changes_what_a_cached_name_builds(spy_prefix):
    from engram.lm import resolve

    engram.configure(lm="spy/a")
    with dspy.context(lm=None):
        first = resolve()
        assert resolve() is first  # built once
        engram.configure(lm_cache=False)  # any configure() drops the built LMs
        assert resolve() is not first
    assert len(spy_prefix) == 2


def test_a_bad_configure_value_changes_nothing():
    engram.configure(lm="openai/gpt-4o-mini")
    with pytest.raises(engram.ConfigurationError, match="lm_cache"):
        engram.configure(lm="anthropic/claude", lm_cache="maybe")
    assert engram.get_settings().lm == "openai/gpt-4o-mini"


# -- LM prefixes: engram.testing registers offline/, lm.py never imports it ------------------------
def test_offline_names_without_the_test_world_say_how_to_get_it(monkeypatch):
    import subprocess
    import sys

    code = ("import engram.lm as lm\nlm._load_entry_points = lambda: None\n"  # as if not installed
            "try:\n    lm.build_lm('offline/support')\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
            "import sys; print('engram.testing' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("ConfigurationError") and "import engram.testing" in out
    assert out.strip().endswith("False")


def test_importing_engram_testing_registers_the_offline_prefix():
    import engram.testing
    from engram.lm import build_lm, registered_lm_prefixes

    assert "offline/" in registered_lm_prefixes()
    lm = build_lm("offline/echo")
    assert lm.model == "offline/echo"
    assert engram.testing.build_offline_lm("offline/support").model == "offline/support"


def test_the_entry_point_is_declared_and_loads_the_offline_factory():
    import tomllib

    from engram._lazy import import_module

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    target = project["entry-points"]["engram.lm_prefixes"]["offline/"]
    module, attribute = target.split(":")
    factory = getattr(import_module(module), attribute)
    assert factory("offline/echo").model == "offline/echo"


def test_register_lm_prefix_rejects_bad_prefixes():
    from engram.lm import register_lm_prefix

    with pytest.raises(engram.ConfigurationError, match="'offline/'"):
        register_lm_prefix("offline", lambda name: None)
    with pytest.raises(engram.ConfigurationError, match="callable"):
        register_lm_prefix("x/", "not a function")  # type: ignore[arg-type]


def test_an_offline_name_resolves_in_a_fresh_process_through_the_entry_point(tmp_path):
    """ENGRAM_LM=offline/support with nothing imported by hand: the entry point registers it.

    Runs where engram's metadata declares the entry point (an installed engram, or the
    metadata this test writes beside it on the path), in a subprocess with a time limit:
    loading the entry point inside resolve() once deadlocked on the LM cache lock.
    """
    import os
    import subprocess
    import sys

    dist = tmp_path / "engram_ep_test-0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: engram-ep-test\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text("[engram.lm_prefixes]\noffline/ = engram.testing:build_offline_lm\n")
    env = {**os.environ, "ENGRAM_LM": "offline/support", "ENGRAM_HOME": str(tmp_path / "home"),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), str(tmp_path)])}
    code = ("import sys, dspy, engram.lm as lm\nprint(lm.resolve('judge').model)\n"
            "print(lm.resolve('judge') is lm.resolve('judge'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["offline/support", "True"]
