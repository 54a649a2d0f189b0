"""Offline LM names: what ENGRAM_LM=offline/<name> builds."""

from __future__ import annotations

import dspy
import pytest

import engram
from engram.lm import build_lm
from engram.testing._registry import known_offline_lms, offline_lm, register_offline_lm
from engram.testing._scripted import scripted_lm


def test_known_names_build_labeled_stand_ins():
    assert {"support", "support-slow", "echo"} <= set(known_offline_lms())
    for name in known_offline_lms():
        lm = build_lm(f"offline/{name}")
        assert lm.model == f"offline/{name}"
    assert build_lm("offline/support-slow").engine.latency > 0


def test_echo_answers_with_the_last_input():
    with dspy.context(lm=offline_lm("echo")):
        assert dspy.Predict("question -> answer")(question="ping").answer == "ping"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(engram.ConfigurationError) as info:
        offline_lm("gpt-5")
    message = str(info.value)
    assert "offline/gpt-5" in message and "offline/support" in message and "offline/echo" in message


def test_register_a_new_offline_lm():
    from engram.testing import _registry as registry

    register_offline_lm("test-fixed", lambda **kw: scripted_lm({"answer": "fixed"}, name="offline/test-fixed"))
    try:
        with dspy.context(lm=build_lm("offline/test-fixed")):
            assert dspy.Predict("question -> answer")(question="?").answer == "fixed"
    finally:
        registry._FACTORIES.pop("test-fixed")


def test_configured_offline_lm_through_settings(monkeypatch):
    monkeypatch.setenv("ENGRAM_LM", "offline/support")
    engram.config.reset()
    from engram.lm import get_lm

    lm = get_lm("judge")
    assert lm.model == "offline/support"


def test_package_exports_are_lazy_and_resolve():
    import subprocess
    import sys

    code = ("import sys, engram.testing as t; assert 'dspy' not in sys.modules; "
            "names = [getattr(t, n) for n in t.__all__]; print(len(names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == len(__import__("engram.testing").testing.__all__)
