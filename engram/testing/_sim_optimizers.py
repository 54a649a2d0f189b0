"""Simulated-world behaviour for the optimizers' own signatures (stand-in, not a model).

The world's built-ins cover critiques, prompt writers, judges and task models. This module
adds the multi-prompt attribution step (``AttributeFeedback``: output ``prompt_names``):
a prompt is concerned when its "when to update" note names a trait users complained about
(by a word of the trait's name, e.g. "steps" for numbered_steps, or one of its keywords).
"""

from __future__ import annotations

import re
from typing import Any

from engram.testing._handlers import register_handler
from engram.testing._protocol import ParsedCall
from engram.testing._traits import complained_traits, get_trait

_BLOCK = re.compile(r"^### name: (?P<name>.+)$\nwhen to update: (?P<when>.*)$", re.MULTILINE)
_STOP = {"up", "to", "a", "the"}


def _mentions(when: str, trait: str) -> bool:
    words = [w for w in trait.split("_") if w not in _STOP]
    phrases = [*words, *get_trait(trait).keywords]
    text = when.lower()
    return any(re.search(r"\b" + re.escape(p.lower()) + r"\b", text) for p in phrases)


def is_attribution(call: ParsedCall) -> bool:
    return "prompt_names" in call.output_fields


def handle_attribution(call: ParsedCall, world: Any) -> dict[str, Any]:
    complained = complained_traits(call.inputs.get("trajectories", ""))
    chosen = [m.group("name").strip() for m in _BLOCK.finditer(call.inputs.get("prompts", ""))
              if any(_mentions(m.group("when"), t) for t in complained)]
    out: dict[str, Any] = {"prompt_names": chosen}
    if "reasoning" in call.output_fields:
        out["reasoning"] = f"Stand-in attribution: complaints about {', '.join(complained) or 'nothing'}."
    return out


register_handler("optimizers-attribution", is_attribution, handle_attribution)
