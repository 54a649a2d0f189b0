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
]


@pytest.mark.parametrize("settings, named", BAD, ids=[str(s) for s, _ in BAD])
def test_bad_settings_are_refused_and_change_nothing(settings: dict, named: str) -> None:
    engram.configure(lm="openai/gpt-4o-mini")
    before = engram.get_settings().model_dump()
    with pytest.raises(ConfigurationError) as caught:
        engram.configure(**settings)
        resolve("task")  # names are checked when built: an unknown world fails here
    assert named in str(caught.value)
    if "no-such-world" not in named:
        assert engram.get_settings().model_dump() == before
