"""DSPy's 3.5 removals fail the code the tests run, in process and in the processes they start."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import warnings

import pytest

from tests.conftest import DSPY_35_REMOVALS

# Each of DSPy's deprecation helpers, called as DSPy calls it; the child reports which raised.
_CHILD = """
import warnings
from dspy.clients import _deprecation as d
for name, call in [("warn_legacy_lm", d.warn_legacy_lm), ("warn_legacy_engine", d.warn_legacy_engine),
                   ("warn_legacy_shortcut", d.warn_legacy_shortcut),
                   ("warn_openai_messages", lambda: d.warn_openai_messages(object(), []))]:
    try:
        call()
        print(name, "warned quietly")
    except DeprecationWarning:
        print(name, "raised")
"""


def test_every_dspy_35_removal_warning_is_covered():
    from dspy.clients import _deprecation

    messages = re.findall(r'_warn\(\s*"([^"]+)"', inspect.getsource(_deprecation))
    assert len(messages) == 4, "DSPy's deprecation helpers changed: update DSPY_35_REMOVALS in tests/conftest.py"
    for message in messages:
        assert any(message.startswith(prefix) for prefix in DSPY_35_REMOVALS), message


def test_a_child_process_fails_on_them_too():
    done = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == [f"{name} raised" for name in (
        "warn_legacy_lm", "warn_legacy_engine", "warn_legacy_shortcut", "warn_openai_messages")]


def test_in_process_too():
    from dspy.clients._deprecation import warn_legacy_shortcut

    with pytest.raises(DeprecationWarning):
        warn_legacy_shortcut()
    warnings.warn("something else is deprecated", DeprecationWarning, stacklevel=1)  # others stay ignored
