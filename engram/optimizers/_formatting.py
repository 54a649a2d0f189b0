"""Turning trajectories and feedback into compact, deterministic text for the LM.

Every optimizer shows the reflection LM the same rendering: one block per conversation,
headed by its stable trajectory id and its feedback as named fields (never ``str(dict)``)::

    ### t_3f2a9c01d4e5b6a7 | score=0.0 | comment="too long"
    user: Reset my password
    assistant: Click 'Forgot password'.

Identical conversations are shown once with every id and feedback they received, which
keeps repeated sessions (a common case: many users, one canned reply) cheap.

Truncation (the token budget), documented here because it changes what the LM sees:

1. A message longer than ``max_message_chars`` keeps its head and tail with
   ``…[N chars cut]…`` in between.
2. Conversations are ordered worst first (lowest score, then those with a comment,
   then the rest, ties by id) and added until ``max_tokens`` (estimated at 4 characters
   a token) is reached; the rest are left out and counted in a closing line
   ``(K more conversations left out to fit the token budget)``.
3. When they do not all fit, a quarter of the budget goes to the best-scored ones (shown
   after the failures), so the LM can contrast what users liked with what they did not: a
   view of failures alone cannot say what set them apart. On OpenAssistant's votes
   (``benchmarks/oasst_quality.py``, a proxy with a stand-in reflection) the gradient
   optimizer at the default budget went from learning nothing (0.534, random's score) to
   0.672 of the held-out human rating, level with a 25x larger view (0.666; 0.675 before).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engram.prompts import Prompt
from engram.trajectories import Feedback, Trajectory, coerce

DEFAULT_MAX_TOKENS = 6000
CONTRAST_SHARE = 0.25  # of a budget that cannot show everything: kept for the best-scored conversations
DEFAULT_MAX_MESSAGE_CHARS = 1500
_CHARS_PER_TOKEN = 4


def coerce_trajectories(value: Any) -> list[Trajectory]:
    """A list of trajectories: :func:`engram.trajectories.coerce` (this name is kept for LangMem users).

    Example::

        coerce_trajectories([([{"role": "user", "content": "hi"}], "too terse")])
    """
    return coerce(value)


def output_items(value: Any) -> list[str]:
    """A clean list of non-empty strings from an LM's list output (or a bulleted string)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [line.lstrip("-*• ").strip() for line in value.splitlines()]
    return [str(v).strip() for v in value if str(v).strip()]


def last_exchange(trajectory: Trajectory) -> tuple[str, str] | None:
    """(the user message before the last assistant reply, that reply), or None."""
    messages = trajectory.messages
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "assistant":
            user = next((m.content for m in reversed(messages[:i]) if m.role == "user"), "")
            return user, messages[i].content
    return None


def feedback_fields(feedback: Feedback | None) -> str:
    """``score=0.2 | label="down" | comment="too long"`` (fields in a fixed order; JSON-quoted text)."""
    if feedback is None or feedback.is_empty:
        return "no feedback"
    parts = []
    if feedback.score is not None:
        parts.append(f"score={feedback.score:g}")
    if feedback.label:
        parts.append(f"label={json.dumps(feedback.label, ensure_ascii=False)}")
    if feedback.comment:
        parts.append(f"comment={json.dumps(feedback.comment, ensure_ascii=False)}")
    if feedback.source != "user":
        parts.append(f"source={feedback.source}")
    return " | ".join(parts)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}…[{len(text) - limit} chars cut]…{text[-tail:]}"


def _transcript(t: Trajectory, max_message_chars: int) -> str:
    lines = []
    for m in t.messages:
        if m.role == "system":  # the prompt under optimization is shown separately
            continue
        who = f"{m.role}[{m.name}]" if m.name else m.role
        lines.append(f"{who}: {_cut(m.text_with_calls(arguments=False), max_message_chars)}")
    return "\n".join(lines)


def _priority(t: Trajectory) -> tuple:
    score = t.score
    has_comment = bool(t.feedback and t.feedback.comment)
    return (score if score is not None else 2.0, not has_comment, t.id)


def worst_first(trajectories: Iterable[Trajectory]) -> list[Trajectory]:
    """Trajectories ordered as the budget keeps them: lowest score, then commented, then by id."""
    return sorted(trajectories, key=_priority)


@dataclass
class Rendered:
    """Formatted trajectories and what the budget left out."""

    text: str
    shown: list[str] = field(default_factory=list)
    omitted: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return bool(self.omitted)


def format_trajectories(trajectories: Iterable[Trajectory], *, max_tokens: int = DEFAULT_MAX_TOKENS,
                        max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS) -> Rendered:
    """Render trajectories for a reflection LM (see the module docstring for the rules)."""
    groups: dict[str, list[Trajectory]] = {}
    for t in sorted(trajectories, key=_priority):
        groups.setdefault(_transcript(t, max_message_chars), []).append(t)
    blocks = {body: _block(body, members) for body, members in groups.items()}
    budget = max_tokens * _CHARS_PER_TOKEN
    order = list(blocks)
    if sum(len(b) + 2 for b in blocks.values()) > budget and len(order) > 1:
        chosen = _with_contrast(order, {body: len(block) + 2 for body, block in blocks.items()},
                                {body: members[0].score for body, members in groups.items()}, budget)
        order = sorted(chosen, key=lambda body: _priority(groups[body][0])) + [b for b in order if b not in chosen]
    shown: list[str] = []
    omitted: list[str] = []
    out: list[str] = []
    used = 0
    for body in order:
        block, members = blocks[body], groups[body]
        if out and used + len(block) > budget:
            omitted.extend(t.id for t in members)
            continue
        if not out and len(block) > budget:  # always show something: cut the only block
            block = _cut(block, budget)
        out.append(block)
        used += len(block) + 2
        shown.extend(t.id for t in members)
    if omitted:
        out.append(f"({len(omitted)} more conversations left out to fit the token budget)")
    return Rendered("\n\n".join(out), shown, omitted)


def _with_contrast(order: list[str], size: dict[str, int], score: dict[str, float | None], budget: int) -> set[str]:
    """What fits when not everything does: worst first up to ``1 - CONTRAST_SHARE`` of the
    budget, then the best-scored, then whatever still fits, worst first."""
    worst = score[order[0]]
    best = [] if worst is None else sorted(
        (b for b in order if (s := score[b]) is not None and s > worst), key=lambda b: -(score[b] or 0.0))
    chosen: dict[str, None] = {}  # insertion-ordered set
    used = 0
    for pool, limit, fill in ((order, budget * (1 - CONTRAST_SHARE), False), (best, budget, False),
                              (order, budget, True)):
        for body in pool:
            if body in chosen:
                continue
            if chosen and used + size[body] - 2 > limit:
                if fill:
                    continue  # the leftover space takes any smaller block, worst first
                break  # each share in its own order: no skipping ahead to a better-rated block
            chosen[body] = None
            used += size[body]
    return set(chosen)


def _block(body: str, members: list[Trajectory]) -> str:
    # Repeats of one trajectory (same id and feedback) collapse into one "×N" line.
    lines: dict[str, int] = {}
    for t in members:
        line = f"### {t.id} | {feedback_fields(t.feedback)}"
        lines[line] = lines.get(line, 0) + 1
    header = "\n".join(line if n == 1 else line.replace(" | ", f" ×{n} | ", 1) for line, n in lines.items())
    return f"{header}\n{body}"


def format_prompt(prompt: Prompt) -> str:
    """The prompt text the LM edits (chat templates as ``[role]`` blocks)."""
    return prompt.text


def parse_prompt_text(original: Prompt, text: str) -> str | list[dict[str, str]]:
    """The template for ``text`` in the original's shape (chat templates are parsed from ``[role]`` blocks)."""
    text = _strip_fences(text)
    if isinstance(original.template, str):
        return text
    import re

    parts = re.split(r"^\[(system|user|assistant|developer|tool)\]\s*$", text, flags=re.MULTILINE)
    messages = [{"role": role, "content": body.strip()} for role, body in zip(parts[1::2], parts[2::2])]
    if len(messages) != len(original.template):
        raise ValueError(f"expected {len(original.template)} [role] blocks, got {len(messages)}")
    return messages


def _strip_fences(text: str) -> str:
    text = (text or "").strip()
    if text.startswith("```") and text.endswith("```"):
        text = text.strip("`")
        first_newline = text.find("\n")
        text = text[first_newline + 1:] if first_newline >= 0 else text
    return text.strip()


def prompt_context(prompt: Prompt) -> str:
    """The developer's guidance for this prompt (update instructions and when to update), or ``none``."""
    parts = []
    if prompt.update_instructions:
        parts.append(f"How to update: {prompt.update_instructions}")
    if prompt.when_to_update:
        parts.append(f"When to update: {prompt.when_to_update}")
    return "\n".join(parts) or "none"
