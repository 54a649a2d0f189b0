"""Which LM a memory module calls: its own ``lm=``, else DSPy's current one, else engram's setting."""

from __future__ import annotations

import contextlib
from typing import Any

import dspy


def lm_scope(lm: Any = None) -> contextlib.AbstractContextManager:
    """A context in which DSPy calls go to the right LM.

    An explicit ``lm`` (name or ``dspy.LM``) wins; inside ``dspy.context(lm=...)`` that LM
    is used; otherwise the configured task LM (``ENGRAM_LM``), or a ConfigurationError that
    says how to set one.
    """
    from engram.lm import get_lm

    if lm is not None:
        return dspy.context(lm=get_lm("task", lm))
    if dspy.settings.lm is not None:
        return contextlib.nullcontext()
    return dspy.context(lm=get_lm("task"))
