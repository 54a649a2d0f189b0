"""A scripted offline LM for memory tests: each conversation yields one memory naming its first
user message (so re-applying a trajectory would show up as a duplicate memory). A stand-in."""

from __future__ import annotations

import json

NAME = "runner-memtest"


def _answer(call):
    if "ops" in call.output_fields:
        conversation = call.inputs.get("conversation", "")
        first = next((line.removeprefix("user: ") for line in conversation.splitlines()
                      if line.startswith("user: ")), "hello")
        return {"ops": json.dumps({"op": "insert", "content": f"Customer asked: {first[:80]}",
                                   "quote": first[:40]})}
    return {name: "ok" for name in call.output_fields}


def register() -> None:
    """Make ``offline/runner-memtest`` buildable in this process."""
    from engram.testing._registry import register_offline_lm
    from engram.testing._scripted import scripted_lm

    register_offline_lm(NAME, lambda **kw: scripted_lm(_answer, name=f"offline/{NAME}", **kw),
                        "runner tests: one memory per conversation")
