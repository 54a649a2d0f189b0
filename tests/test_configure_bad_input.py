"""Issue 11 acceptance: bad values to engram.configure are ConfigurationErrors naming the setting,
and a refused call changes nothing."""

from __future__ import annotations

import pytest

import engram
from engram.errors import ConfigurationError
from engram.lm import resolve

BAD = [
    ({"lm": ""}, "lm"), ({"lm": "   "}, "lm"), ({"lm": "gpt-4o-mini"}, "provider"), ({"lm": 5}, "lm"),
    ({"lm": ["openai/x"]}, "lm"), ({"reflection_lm": ""}, "reflection_lm"), ({"judge_lm": 3.5}, "judge_lm"),
    ({"embedder": ""}, "embedder"), ({"embedder": 7}, "embedder"), ({"home": 5}, "home"),
    ({"home": ["a"]}, "home"), ({"chroma_url": 5}, "chroma_url"), ({"tracking_uri": 5}, "tracking_uri"),
    ({"lm_cache": "maybe"}, "lm_cache"), ({"lm_cache": [1]}, "lm_cache"), ({"llm": "openai/x"}, "llm"),
    ({"LM": "openai/x"}, "LM"), ({"home_dir": "/tmp"}, "home_dir"), ({"embeder": "x"}, "embeder"),
    ({"lm": "openai/x", "bogus": 1}, "bogus"), ({"lm": "offline/no-such-world"}, "no-such-world"),
    ({"judge_lm": "offline/nope"}, "offline/support"), ({"embedder": "foo"}, "litellm:<model>"),
    ({"embedder": "litellm:"}, "embedder"), ({"embedder": "chroma: "}, "embedder"),
    ({"tracking_uri": "nosuch://x"}, "nosuch"),
]


@pytest.mark.parametrize("settings, named", BAD, ids=[str(s) for s, _ in BAD])
def test_bad_settings_are_refused_and_change_nothing(settings: dict, named: str) -> None:
    engram.configure(lm="openai/gpt-4o-mini")
    before = engram.get_settings().model_dump()
    with pytest.raises(ConfigurationError) as caught:
        engram.configure(**settings)
        resolve("task")  # not reached: configure refuses
    assert named in str(caught.value)
    assert engram.get_settings().model_dump() == before


def test_home_that_is_a_file_is_refused(tmp_path) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    with pytest.raises(ConfigurationError, match="existing file, not a directory"):
        engram.configure(home=str(afile))
    engram.configure(home=str(tmp_path / "new"))  # a missing directory is fine: it is created


GOOD = [
    {"lm": "offline/support"}, {"lm": "offline/echo"}, {"embedder": "all-MiniLM-L6-v2"},
    {"embedder": "minilm:int8"}, {"embedder": "default"}, {"embedder": "litellm:text-embedding-3-small"},
    {"embedder": "chroma:default"}, {"tracking_uri": "sqlite:////tmp/mlflow.db"},
    {"tracking_uri": "postgresql+psycopg2://u:p@host/db"}, {"tracking_uri": "mysql://u@h/db"},
    {"tracking_uri": "http://localhost:5000"}, {"tracking_uri": "https://x.example"},
    {"tracking_uri": "file:///tmp/mlruns"}, {"tracking_uri": "/tmp/mlruns"}, {"tracking_uri": "mlruns"},
    {"tracking_uri": "databricks"}, {"tracking_uri": "databricks://profile"}, {"tracking_uri": "C:\\runs"},
]


@pytest.mark.parametrize("settings", GOOD, ids=[str(s) for s in GOOD])
def test_good_settings_are_accepted(settings: dict) -> None:
    engram.configure(**settings)


def test_an_offline_stand_in_registered_first_is_accepted() -> None:
    from engram.testing import register_offline_lm, scripted_lm
    from engram.testing._registry import _FACTORIES

    register_offline_lm("configure-test", lambda **kw: scripted_lm({"answer": "x"}, **kw))
    try:
        engram.configure(lm="offline/configure-test")
    finally:
        _FACTORIES.pop("configure-test", None)


def test_config_knows_the_same_minilm_names_as_the_store() -> None:
    from engram.config import _MINILM_ALIASES as in_config
    from engram.store._embeddings import _MINILM_ALIASES as in_store

    assert in_config == in_store


def test_offline_names_are_checked_without_importing_engram_testing_first() -> None:
    import subprocess
    import sys

    code = ("import engram\n"
            "try:\n    engram.configure(lm='offline/nope')\nexcept engram.errors.ConfigurationError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "offline/nope" in out and "offline/support" in out
