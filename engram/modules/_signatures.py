"""The DSPy signatures of the memory modules.

Instructions are deliberately short: they are paid for on every update (see
``benchmarks/cost_memory.py``). Each signature can be compiled (its instructions and
demos are what DSPy optimizers change).

The extraction answer is JSON Lines rather than a typed list: a typed output makes
DSPy print the whole JSON schema into every prompt, which costs more than the
conversation itself.
"""

from __future__ import annotations

import dspy

OPS_FORMAT = (
    'Write one JSON object per line: {"op": "insert"|"update"|"delete", "id": memory number '
    '(update/delete), "content": the memory, "quote": conversation words it comes from}. '
    "Write nothing if nothing changed."
)


class ExtractMemories(dspy.Signature):
    """Keep the user's long-term memories up to date from the conversation."""

    conversation: str = dspy.InputField()
    memories: str = dspy.InputField(desc="numbered")
    ops: str = dspy.OutputField()


class FixMemoryOps(dspy.Signature):
    """Some of your memory operations were refused. Resend corrected versions of only those, in the same format, or nothing to drop them."""

    conversation: str = dspy.InputField()
    memories: str = dspy.InputField(desc="numbered")
    refused: str = dspy.InputField(desc="each refused op and why")
    ops: str = dspy.OutputField()


class WriteMemoryQueries(dspy.Signature):
    """Write short search queries, one per line, for the distinct aspects of the conversation that stored memories could help with."""

    conversation: str = dspy.InputField()
    queries: str = dspy.OutputField()


class SummarizeThread(dspy.Signature):
    """Summarize the conversation: a short title and a summary that keeps facts, decisions and open questions."""

    conversation: str = dspy.InputField()
    title: str = dspy.OutputField()
    summary: str = dspy.OutputField()


class UpdateRunningSummary(dspy.Signature):
    """Extend the summary of an ongoing conversation with the new messages. Keep facts, decisions, names and open questions; drop small talk."""

    summary: str = dspy.InputField(desc="summary so far (may be empty)")
    messages: str = dspy.InputField()
    new_summary: str = dspy.OutputField()


def extraction_signature(extra: str = "", *, fix: bool = False) -> type[dspy.Signature]:
    """The extraction (or fix) signature with the answer format and ``extra`` rules in its instructions."""
    base = FixMemoryOps if fix else ExtractMemories
    parts = [base.instructions, OPS_FORMAT]
    if extra:
        parts.append(extra)
    return base.with_instructions("\n".join(parts))


__all__ = [
    "OPS_FORMAT",
    "ExtractMemories",
    "FixMemoryOps",
    "SummarizeThread",
    "UpdateRunningSummary",
    "WriteMemoryQueries",
    "extraction_signature",
]
