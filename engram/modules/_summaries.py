"""Summaries: a thread summarizer, and a running summary that keeps history under a budget.

Thread summary (one LM call)::

    ThreadSummarizer()(conversation=messages)            # Prediction(title=..., summary=...)

    from pydantic import BaseModel

    class MyNotes(BaseModel):
        topics: list[str]
        open_questions: list[str]

    ThreadSummarizer(schema=MyNotes)(conversation=messages).summary   # a MyNotes instance

Running summary, with LangMem's ``summarize_messages`` semantics (issues #98, #118, #126)::

    history, state = [], None
    for i in range(40):
        history += [{"role": "user", "content": f"Question {i}: my order {1000 + i} has not arrived yet."},
                    {"role": "assistant", "content": "Sorry about that: I have opened a ticket for it."}]
        result = summarize_messages(history, running_summary=state, max_tokens=512, max_summary_tokens=128,
                                    max_tokens_before_summary=512, model="openai/gpt-4o-mini")
        state = result.running_summary or state
    result.messages        # [summary message] + the recent messages: what to send to the model

Messages are counted by ``token_counter`` (called with a list of the caller's own message
objects, like LangChain's ``model.get_num_tokens_from_messages``; the default is LangMem's
approximation, 4 characters a token plus 3 a message). Once the messages not yet
summarized reach ``max_tokens_before_summary`` tokens (default ``max_tokens``), the oldest of
them are folded into the summary (one LM call) — as many as needed for the rest to fit
``max_tokens - max_summary_tokens`` — and the rest are kept verbatim. The state is keyed by
message ids (``summarized_message_ids``, ``last_summarized_message_id``), so a re-run over
the same growing history never summarizes a message twice; messages without an ``id`` get a
stable one (a hash of role, content and how often that message occurred before).

A tool-calling assistant message and its tool results are summarized or kept together, so the
kept part never starts with a tool result; a leading system message is always kept. When the
messages to summarize are themselves over ``max_tokens``, only the newest of them that fit are
shown to the summarizing LM (as LangMem does: its context is assumed to be ``max_tokens``),
with a warning in the log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
from engram.modules._langmem import read_input
from engram.modules._lm import lm_scope
from engram.modules._settings import LMSpec
from engram.modules._signatures import SummarizeThread, UpdateRunningSummary
from engram.trajectories import Message, coerce_messages

SUMMARY_PREFIX = "Summary of the conversation so far: "
log = logging.getLogger("engram.modules.summaries")


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

    # -- LangMem's call shape (create_thread_extractor) -------------------------------------------
    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> BaseModel:
        """LangMem's ``extractor.invoke({"messages": ...})``: a :class:`ThreadSummary` (``title``,
        ``summary``), or the instance of ``schema`` when one was given."""
        return self._langmem(self(conversation=read_input(input, what="the thread extractor")["messages"]))

    async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> BaseModel:
        """Async :meth:`invoke`."""
        data = read_input(input, what="the thread extractor")
        return self._langmem(await self.acall(conversation=data["messages"]))

    def _langmem(self, pred: dspy.Prediction) -> BaseModel:
        return pred.summary if self.schema is not None else ThreadSummary(title=pred.title, summary=pred.summary)


class ThreadSummary(BaseModel):
    """A conversation's title and summary (LangMem's ``SummarizeThread``)."""

    title: str
    summary: str


@dataclass
class RunningSummary:
    """The summary so far and which messages it covers (by id, as LangMem keeps it)."""

    summary: str
    summarized_message_ids: set[str] = field(default_factory=set)
    last_summarized_message_id: str | None = None


@dataclass
class SummarizationResult:
    """Messages to send (summary message + recent messages) and the state for next time."""

    messages: list[Message]
    running_summary: RunningSummary | None = None
    summarized_now: int = 0


TokenCounter = Callable[[Sequence[Any]], int]


def count_message_tokens(messages: Sequence[Any]) -> int:
    """The default ``token_counter``, LangMem's approximation: a token per 4 characters of each
    message's text (tool calls included), plus 3 per message for its role and separators.

    >>> count_message_tokens([{"role": "user", "content": "12345678"}])
    5
    """
    total = 0.0
    for m in messages:
        message = m if isinstance(m, Message) else Message.coerce(_without_id(m))
        total += len(message.text_with_calls()) / 4 + 3
    return math.ceil(total)


def blocks(messages: list[Message]) -> list[list[Message]]:
    """Messages grouped so a tool-calling assistant message and its tool results stay together."""
    out: list[list[Message]] = []
    for message in messages:
        if message.role == "tool" and out and (out[-1][0].tool_calls or out[-1][0].role == "tool"):
            out[-1].append(message)  # a result joins the block of the call it answers
        else:
            out.append([message])
    return out


def _without_id(item: Any) -> Any:
    return {k: v for k, v in item.items() if k != "id"} if isinstance(item, dict) else item


def _read(messages: ConversationInput) -> tuple[list[Any], list[Message], list[str]]:
    """The caller's items, engram messages and one id per message (given, or a stable hash)."""
    if isinstance(messages, (list, tuple)):
        raw = list(messages)
        try:
            history = coerce_messages([_without_id(m) for m in raw])
        except (TypeError, ValueError) as err:
            raise ValidationError(f"cannot read the messages: {err}. Pass OpenAI-style dicts, LangChain "
                                  "messages or engram Messages.") from None
    else:
        history, _ = to_messages(messages)
        raw = list(history)
    ids: list[str] = []
    seen: dict[str, int] = {}
    for item, message in zip(raw, history, strict=True):
        given = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
        if given:
            ids.append(str(given))
            continue
        payload = json.dumps(message.to_openai(), sort_keys=True)
        seen[payload] = seen.get(payload, 0) + 1  # the n-th identical message gets its own id
        ids.append("m_" + hashlib.sha256(f"{seen[payload]}:{payload}".encode()).hexdigest()[:16])
    if len(set(ids)) != len(ids):
        raise ValidationError("two messages share an id; message ids must be unique within the history.")
    return raw, history, ids


@dataclass
class _Plan:
    history: list[Message]
    ids: list[str]
    system: list[Message]
    done: int  # index of the first message not summarized before
    cut: int  # index after the last message to summarize now (== done: nothing to summarize)
    to_show: list[Message]  # what the summarizing LM sees (the newest that fit max_tokens)


def _plan(messages: ConversationInput, running_summary: RunningSummary | None, max_tokens: int,
          max_tokens_before_summary: int | None, max_summary_tokens: int, counter: TokenCounter) -> _Plan:
    if max_summary_tokens >= max_tokens:
        raise ValidationError("max_summary_tokens must be smaller than max_tokens.")
    threshold = max_tokens if max_tokens_before_summary is None else max_tokens_before_summary
    if threshold < 1:
        raise ValidationError(f"max_tokens_before_summary must be at least 1, got {threshold}.")
    raw, history, ids = _read(messages)
    start = 1 if history and history[0].role == "system" else 0
    budget = max_tokens - max_summary_tokens - (counter(raw[:1]) if start else 0)
    done = start
    if running_summary is not None and running_summary.last_summarized_message_id is not None:
        last = running_summary.last_summarized_message_id
        if last not in ids:
            raise ValidationError(
                f"the running summary ends at message {last!r}, which is not in the messages; pass the same "
                "(growing) history each time, with the same message ids.")
        done = ids.index(last) + 1
    covered = running_summary.summarized_message_ids if running_summary is not None else set()
    again = [i for i in ids[done:] if i in covered]
    if again:
        raise ValidationError(f"message {again[0]!r} was summarized already but comes after the last summarized "
                              "message; pass the same (growing) history each time.")
    total = counter(raw[done:])
    cut, used, index = done, 0, done
    for block in blocks(history[done:]):
        size = counter(raw[index:index + len(block)])
        used, index = used + size, index + len(block)
        if used >= threshold and total - used <= budget:
            cut = index
            break
    to_show = history[done:cut]
    limit = max_tokens - (_summary_tokens(running_summary.summary, counter) if running_summary is not None else 0)
    if cut > done and counter(raw[done:cut]) > limit:
        kept = done
        for block_start in range(done, cut):  # the newest messages that fit, never starting on a tool result
            if history[block_start].role != "tool" and counter(raw[block_start:cut]) <= limit:
                kept = block_start
                break
        else:
            kept = cut - 1
        log.warning("summarize_messages: %d of the %d messages to summarize are over max_tokens=%d and are "
                    "not shown to the summarizing LM", kept - done, cut - done, max_tokens)
        to_show = history[kept:cut]
    return _Plan(history, ids, history[:start], done, cut, to_show)


def _summary_tokens(summary: str, counter: TokenCounter) -> int:
    """The summary's size in the counter's units (a counter that cannot read a dict: cl100k tokens)."""
    try:
        return int(counter([{"role": "system", "content": summary}]))
    except Exception:  # noqa: BLE001 - a caller's counter for its own message type; only a budget
        return count_tokens(summary)


def _finish(plan: _Plan, running_summary: RunningSummary | None, new_summary: str | None) -> SummarizationResult:
    state = running_summary
    if new_summary is not None:
        covered = set(running_summary.summarized_message_ids) if running_summary is not None else set()
        state = RunningSummary(new_summary, covered | set(plan.ids[plan.done:plan.cut]), plan.ids[plan.cut - 1])
    if state is None:
        return SummarizationResult(list(plan.history), None)
    head = Message(role="system", content=SUMMARY_PREFIX + state.summary)
    return SummarizationResult([*plan.system, head, *plan.history[plan.cut:]], state,
                               summarized_now=plan.cut - plan.done)


def _step(summarizer: dspy.Module | None) -> dspy.Module:
    return summarizer or dspy.Predict(UpdateRunningSummary)


def _model_of(model: LMSpec, lm: LMSpec) -> LMSpec:
    if model is not None and lm is not None and model is not lm:
        raise ValidationError("pass the summarizing LM once: model= (LangMem's name) or lm=, not both.")
    return model if model is not None else lm


def summarize_messages(messages: ConversationInput, *, running_summary: RunningSummary | None = None,
                       model: LMSpec = None, max_tokens: int = 2000, max_tokens_before_summary: int | None = None,
                       max_summary_tokens: int = 256, token_counter: TokenCounter = count_message_tokens,
                       summarizer: dspy.Module | None = None, lm: LMSpec = None) -> SummarizationResult:
    """Keep a long history under ``max_tokens`` with a running summary (see the module docstring).

    ``model`` (or its alias ``lm``) is the summarizing LM: a LiteLLM name or a ``dspy.LM``.

    >>> summarize_messages([{"role": "user", "content": "hi"}], max_tokens=100, max_summary_tokens=20).running_summary is None
    True
    """
    plan = _plan(messages, running_summary, max_tokens, max_tokens_before_summary, max_summary_tokens,
                 token_counter)
    if plan.cut == plan.done:
        return _finish(plan, running_summary, None)
    with lm_scope(_model_of(model, lm)):
        pred = _step(summarizer)(summary=running_summary.summary if running_summary else "",
                                 messages="\n".join(render_message(m) for m in plan.to_show))
    return _finish(plan, running_summary, str(pred.new_summary).strip())


async def asummarize_messages(messages: ConversationInput, *, running_summary: RunningSummary | None = None,
                              model: LMSpec = None, max_tokens: int = 2000,
                              max_tokens_before_summary: int | None = None, max_summary_tokens: int = 256,
                              token_counter: TokenCounter = count_message_tokens,
                              summarizer: dspy.Module | None = None, lm: LMSpec = None) -> SummarizationResult:
    """Async :func:`summarize_messages` (the LM call is awaited)."""
    plan = _plan(messages, running_summary, max_tokens, max_tokens_before_summary, max_summary_tokens,
                 token_counter)
    if plan.cut == plan.done:
        return _finish(plan, running_summary, None)
    with lm_scope(_model_of(model, lm)):
        pred = await _step(summarizer).acall(summary=running_summary.summary if running_summary else "",
                                             messages="\n".join(render_message(m) for m in plan.to_show))
    return _finish(plan, running_summary, str(pred.new_summary).strip())


__all__ = ["RunningSummary", "SummarizationResult", "ThreadSummarizer", "ThreadSummary", "asummarize_messages", "blocks",
           "count_message_tokens", "summarize_messages"]
