"""Which LM a memory module calls: :func:`engram.lm.resolve`'s rule, as a DSPy context."""

from __future__ import annotations

import contextlib
from typing import Any

import dspy


def lm_scope(lm: Any = None) -> contextlib.AbstractContextManager:
    """A context in which DSPy calls go to ``resolve("task", lm)``.

    An explicit ``lm`` (name or ``dspy.LM``) wins; inside ``dspy.context(lm=...)`` that LM
    is used; otherwise the configured task LM (``ENGRAM_LM``), or a ConfigurationError that
    says how to set one.
    """
    from engram.lm import resolve

    chosen = resolve("task", lm)
    if chosen is dspy.settings.lm:
        return contextlib.nullcontext()
    return dspy.context(lm=chosen)
