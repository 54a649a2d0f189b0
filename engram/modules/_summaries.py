"""Summaries: a thread summarizer, and a running summary that keeps history under a budget.

Thread summary (one LM call)::

    ThreadSummarizer()(conversation=messages)            # Prediction(title=..., summary=...)
    ThreadSummarizer(schema=MyNotes)(conversation=messages).summary   # a MyNotes instance

Running summary (LangMem's ``summarize_messages``; issues #98, #126)::

    state = None
    for turn in conversation_turns:
        history.extend(turn)
        result = summarize_messages(history, running_summary=state, max_tokens=2000)
        state = result.running_summary
        send_to_model(result.messages)        # [summary message] + the recent messages

When the history fits ``max_tokens`` nothing is summarized (no LM call). Otherwise the
oldest messages not yet summarized are folded into the summary (one LM call) and the
most recent ones, up to ``max_tokens - max_summary_tokens``, are kept verbatim. The cut
never falls between an assistant message with tool calls and its tool results, and the
kept part never starts with a tool result; a leading system message is always kept.
If the newest tool-call block alone is over the budget it is kept whole anyway
(documented: the budget is exceeded rather than a call being separated from its result).
"""

from __future__ import annotations

from dataclasses import dataclass

import dspy
from pydantic import BaseModel

from engram.errors import ValidationError
from engram.modules._conversation import (
    ConversationInput,
    count_tokens,
    prepare,
    render_message,
    to_messages,
)
from engram.modules._lm import lm_scope
from engram.modules._settings import LMSpec
from engram.modules._signatures import SummarizeThread, UpdateRunningSummary
from engram.trajectories import Message

SUMMARY_PREFIX = "Summary of the conversation so far: "


class ThreadSummarizer(dspy.Module):
    """Title + summary of a conversation, or the user's ``schema`` filled in (one LM call)."""

    def __init__(self, schema: type[BaseModel] | None = None, *, instructions: str = "",
                 max_conversation_tokens: int | None = 8000, lm: LMSpec = None):
        super().__init__()
        if schema is not None and not (isinstance(schema, type) and issubclass(schema, BaseModel)):
            raise ValidationError(f"schema must be a pydantic model, got {schema!r}")
        self.schema, self.lm, self.max_conversation_tokens = schema, lm, max_conversation_tokens
        if schema is None:
            signature = SummarizeThread
        else:
            signature = dspy.Signature(
                {"conversation": (str, dspy.InputField()), "summary": (schema, dspy.OutputField())},
                "Summarize the conversation into the requested structure.")
        if instructions:
            signature = signature.with_instructions(signature.instructions + "\n" + instructions)
        self.summarize = dspy.Predict(signature)

    def forward(self, conversation: ConversationInput) -> dspy.Prediction:
        conv = prepare(conversation, max_tokens=self.max_conversation_tokens)
        with lm_scope(self.lm):
            return self.summarize(conversation=conv.text)

    async def aforward(self, conversation: ConversationInput) -> dspy.Prediction:
        conv = prepare(conversation, max_tokens=self.max_conversation_tokens)
        with lm_scope(self.lm):
            return await self.summarize.acall(conversation=conv.text)


@dataclass
class RunningSummary:
    """The summary so far and how many of the history's messages it covers."""

    summary: str
    summarized: int  # messages (after any leading system message) folded into the summary


@dataclass
class SummarizationResult:
    """Messages to send (summary message + recent messages) and the state for next time."""

    messages: list[Message]
    running_summary: RunningSummary | None
    summarized_now: int = 0


def _tokens(message: Message) -> int:
    return count_tokens(render_message(message)) + 4  # + role/separator overhead, as chat formats add


def blocks(messages: list[Message]) -> list[list[Message]]:
    """Messages grouped so a tool-calling assistant message and its tool results stay together."""
    out: list[list[Message]] = []
    for message in messages:
        if message.role == "tool" and out and (out[-1][0].tool_calls or out[-1][0].role == "tool"):
            out[-1].append(message)  # a result joins the block of the call it answers
        else:
            out.append([message])
    return out


def summarize_messages(messages: ConversationInput, *, running_summary: RunningSummary | None = None,
                       max_tokens: int = 2000, max_summary_tokens: int = 256,
                       summarizer: dspy.Module | None = None, lm: LMSpec = None) -> SummarizationResult:
    """Keep a long history under ``max_tokens`` with a running summary (see the module docstring)."""
    if max_summary_tokens >= max_tokens:
        raise ValidationError("max_summary_tokens must be smaller than max_tokens.")
    history, _ = to_messages(messages)
    system = [history[0]] if history and history[0].role == "system" else []
    body = history[len(system):]
    done = running_summary.summarized if running_summary else 0
    if done > len(body):
        raise ValidationError(f"running_summary covers {done} messages but the history has only "
                              f"{len(body)}; pass the same (growing) history each time.")
    summary = running_summary.summary if running_summary else ""
    pending = body[done:]

    def render(summary_text: str, recent: list[Message]) -> list[Message]:
        head = [Message(role="system", content=SUMMARY_PREFIX + summary_text)] if summary_text else []
        return [*system, *head, *recent]

    fixed = sum(_tokens(m) for m in system) + (count_tokens(summary) + 8 if summary else 0)
    if fixed + sum(_tokens(m) for m in pending) <= max_tokens:
        return SummarizationResult(render(summary, pending), running_summary)

    # keep the newest whole blocks that fit beside a summary of at most max_summary_tokens
    budget = max_tokens - max_summary_tokens - sum(_tokens(m) for m in system)
    grouped = blocks(pending)
    kept: list[list[Message]] = []
    used = 0
    for block in reversed(grouped):
        cost = sum(_tokens(m) for m in block)
        if kept and used + cost > budget:
            break
        kept.insert(0, block)  # the newest block is always kept, even over budget
        used += cost
    recent = [m for block in kept for m in block]
    old = pending[: len(pending) - len(recent)]
    if not old:
        return SummarizationResult(render(summary, recent), running_summary)
    step = summarizer or dspy.Predict(UpdateRunningSummary)
    with lm_scope(lm):
        pred = step(summary=summary, messages="\n".join(render_message(m) for m in old))
    new_summary = str(pred.new_summary).strip()
    state = RunningSummary(new_summary, done + len(old))
    return SummarizationResult(render(new_summary, recent), state, summarized_now=len(old))


__all__ = ["RunningSummary", "SummarizationResult", "ThreadSummarizer", "blocks", "summarize_messages"]
