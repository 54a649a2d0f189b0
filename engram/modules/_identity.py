"""Which extractor wrote a memory: the stamp every manager write puts in its provenance.

A stamp names the program (a hash of the extractor's compiled state: instructions, field
descriptions, demos, for the extraction pass and every extra phase), the prompt (name and
version, when the instructions came from the prompt registry as a
:class:`~engram.prompts.Prompt`) and the LM (its name). Two managers with the same
instructions, demos and phases get the same program hash; compiling or editing the
extractor changes it, so :meth:`MemoryManager.rederive` can find what one version wrote.

    >>> from engram.modules import MemoryExtractor
    >>> len(program_hash([MemoryExtractor(instructions="Remember food")]))
    12
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from engram.errors import EngramError

if TYPE_CHECKING:
    import dspy

    from engram.prompts import Prompt

#: the provenance fields a stamp may set (see :class:`engram.store.Provenance`)
STAMP_FIELDS = ("program", "prompt_name", "prompt_version", "lm")


def program_hash(modules: Iterable[dspy.Module]) -> str:
    """12 hex digits of SHA-256 over the modules' ``dump_state()`` (LM settings left out)."""
    states = []
    for module in modules:
        state: Any = module.dump_state()
        for pred in state.values() if isinstance(state, dict) else []:
            if isinstance(pred, dict):
                pred.pop("lm", None)  # the LM is stamped on its own; it is not the program
        states.append(state)
    blob = json.dumps(states, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def lm_name(lm: Any) -> str | None:
    """The name of the LM a call would use (``lm`` or the active / configured one), else None."""
    from engram.lm import resolve

    try:
        chosen = resolve("task", lm)
    except EngramError:  # no LM configured: the update fails at its LM call, not here
        return None
    return str(getattr(chosen, "model", None) or type(chosen).__name__)


def stamp(modules: Iterable[dspy.Module], lm: Any = None, prompt: Prompt | None = None) -> dict[str, str]:
    """The provenance stamp for a write by ``modules`` on ``lm`` (see the module docstring)."""
    out = {"program": program_hash(modules)}
    if prompt is not None:
        out["prompt_name"] = prompt.name
        if prompt.version is not None:
            out["prompt_version"] = str(prompt.version)
    name = lm_name(lm)
    if name is not None:
        out["lm"] = name
    return out


def matches(entry: Any, written_by: str) -> bool:
    """Whether a provenance entry was stamped by ``written_by``: a program hash, an LM name,
    a prompt version, a prompt name, or ``"name@version"`` / ``"name/version"``."""
    prompt = entry.prompt_name
    version = entry.prompt_version
    names = {entry.program, entry.lm, prompt, version}
    if prompt is not None and version is not None:
        names |= {f"{prompt}@{version}", f"{prompt}/{version}"}
    return written_by in names - {None}


__all__ = ["STAMP_FIELDS", "lm_name", "matches", "program_hash", "stamp"]
