"""Conversations as the memory modules read them: coercion, rendering and the token budget.

A conversation may be a :class:`~engram.trajectories.Trajectory`, a list of messages
(OpenAI dicts, LangChain messages, :class:`~engram.trajectories.Message`), a
``dspy.History`` or a plain string. It is rendered compactly (``user: …`` lines).

**Truncation (documented):** a conversation longer than the token budget keeps its
most recent messages that fit, after a ``[N earlier messages omitted]`` line; pass
``truncate=False`` to get :class:`~engram.errors.BudgetExceededError` instead. A single
message over the budget is always an error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from engram._tokens import count_text_tokens
from engram.errors import BudgetExceededError, ValidationError
from engram.trajectories import Message, Trajectory, coerce_messages

if TYPE_CHECKING:
    import dspy


@dataclass
class Conversation:
    """A conversation ready for a prompt: its messages, id, rendered text and whether it was cut."""

    messages: list[Message]
    trajectory_id: str
    text: str
    truncated: bool = False
    omitted: int = 0


# A Trajectory, messages (OpenAI dicts, LangChain messages, Message), {"messages": [...]},
# a dspy.History, a string, or a Conversation prepared already.
ConversationInput = Union["Conversation", Trajectory, str, Mapping[str, object], Sequence[object], "dspy.History",
                          None]


def count_tokens(text: str) -> int:
    """cl100k tokens of ``text`` (as LiteLLM counts them); a cheap upper bound when short."""
    if len(text) < 200:  # at least one character per token: no need to ask the tokenizer
        return len(text)
    return count_text_tokens(text)


def to_messages(conversation: ConversationInput) -> tuple[list[Message], str | None]:
    """Messages and, for a Trajectory, its id. Raises ValidationError on empty input."""
    trajectory_id = None
    if isinstance(conversation, Trajectory):
        trajectory_id = conversation.id
        messages = list(conversation.messages)
    elif isinstance(conversation, str):
        messages = [Message(role="user", content=conversation)] if conversation.strip() else []
    elif conversation is None:
        messages = []
    elif isinstance(conversation, dict) and "messages" in conversation:  # LangMem-style {"messages": [...]}
        return to_messages(conversation["messages"])
    else:
        try:
            messages = coerce_messages(conversation)
        except (TypeError, ValueError) as err:
            raise ValidationError(
                f"cannot read the conversation: {err}. Pass a Trajectory, a list of "
                "{'role': ..., 'content': ...} messages, a dspy.History or a string."
            ) from None
    if not any((m.content or "").strip() or m.tool_calls for m in messages if m.role != "system"):
        raise ValidationError(
            "the conversation is empty: pass at least one user or assistant message with content."
        )
    return messages, trajectory_id


def render_message(message: Message) -> str:
    role = message.role if not message.name else f"{message.role} ({message.name})"
    return f"{role}: {message.text_with_calls()}"


def conversation_id(messages: list[Message]) -> str:
    """A stable id for messages that did not come with a trajectory (same as Trajectory's hash)."""
    try:
        return Trajectory(messages=messages).id
    except ValueError:  # e.g. only system messages (pydantic errors are ValueErrors); still want an id
        payload = json.dumps([m.to_openai() for m in messages], sort_keys=True)
        return "t_" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def prepare(conversation: ConversationInput, *, max_tokens: int | None = 8000, truncate: bool = True,
            trajectory_id: str | None = None) -> Conversation:
    """Coerce, render and fit a conversation into ``max_tokens`` (see the module docstring).

    A :class:`Conversation` passes through unchanged (it was prepared already).
    """
    if isinstance(conversation, Conversation):
        return conversation
    messages, found_id = to_messages(conversation)
    tid = trajectory_id or found_id or conversation_id(messages)
    shown = [m for m in messages if m.role != "system"]
    lines = [render_message(m) for m in shown]
    text = "\n".join(lines)
    # a BPE token is at least one byte, so a text of no more bytes than the budget fits without
    # asking the tokenizer (~1 ms a call, and seconds to import LiteLLM the first time)
    if max_tokens is None or len(text.encode()) <= max_tokens or count_tokens(text) <= max_tokens:
        return Conversation(messages, tid, text)
    if not truncate:
        raise BudgetExceededError(
            f"the conversation has {count_tokens(text)} tokens, over the budget of {max_tokens}; "
            "raise max_conversation_tokens, summarize it first (engram.modules._summaries), "
            "or allow truncation (truncate=True keeps the most recent messages)."
        )
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        cost = count_tokens(line) + 1
        if used + cost > max_tokens:
            break
        kept.append(line)
        used += cost
    if not kept:
        raise BudgetExceededError(
            f"the last message alone is over the budget of {max_tokens} tokens; "
            "raise max_conversation_tokens or shorten the message."
        )
    omitted = len(lines) - len(kept)
    text = f"[{omitted} earlier messages omitted]\n" + "\n".join(reversed(kept))
    return Conversation(messages, tid, text, truncated=True, omitted=omitted)


__all__ = ["Conversation", "ConversationInput", "conversation_id", "count_tokens", "prepare", "render_message", "to_messages"]
