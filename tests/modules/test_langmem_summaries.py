"""summarize_messages / asummarize_messages with LangMem 0.0.30's semantics: a token_counter over
lists of messages, the max_tokens_before_summary threshold, model=, and a RunningSummary keyed
by message ids so that a re-run never summarizes a message twice."""

from __future__ import annotations

import asyncio

import dspy
import pytest

from engram.errors import ValidationError
from engram.lm import track_usage
from engram.modules import RunningSummary, asummarize_messages, summarize_messages
from engram.modules._summaries import SUMMARY_PREFIX
from engram.testing._scripted import scripted_lm


def _history(n: int, *, ids: bool = False) -> list[dict]:
    out = []
    for i in range(n):
        role = "user" if i % 2 == 0 else "assistant"
        out.append({"role": role, "content": f"{role} turn {i}", **({"id": f"msg-{i}"} if ids else {})})
    return out


def _lm():
    return scripted_lm(lambda call: {"new_summary": f"summary of {call.inputs['messages'].count('turn')} turns"})


def test_no_summary_below_max_tokens_before_summary_even_over_max_tokens():
    # LangMem: the threshold triggers summarization; max_tokens only sizes the output once it runs
    lm = _lm()
    with dspy.context(lm=lm), track_usage() as usage:
        result = summarize_messages(_history(5), max_tokens=3, max_tokens_before_summary=6, max_summary_tokens=1,
                                    token_counter=len)
    assert usage.calls == 0 and result.running_summary is None and len(result.messages) == 5


def test_threshold_summarizes_the_oldest_and_keeps_what_fits_max_tokens():
    lm = _lm()
    with dspy.context(lm=lm):
        result = summarize_messages(_history(8, ids=True), running_summary=None, max_tokens=6,
                                    max_tokens_before_summary=5, max_summary_tokens=3, token_counter=len)
    state = result.running_summary
    # counted with len: 5 messages reach the threshold and the 3 left fit max_tokens - max_summary_tokens
    assert state.summarized_message_ids == {f"msg-{i}" for i in range(5)}
    assert state.last_summarized_message_id == "msg-4"
    assert [m.content for m in result.messages[1:]] == [f"{r} turn {i}" for i, r in
                                                        zip(range(5, 8), ["assistant", "user", "assistant"])]
    assert result.messages[0].content == SUMMARY_PREFIX + "summary of 5 turns"
    assert lm.engine.requests[0].inputs["messages"].count("turn") == 5


def test_a_rerun_over_the_same_history_does_not_summarize_again():
    lm = _lm()
    history = _history(8)  # no ids: stable ones are made from the messages
    kwargs = {"max_tokens": 6, "max_tokens_before_summary": 5, "max_summary_tokens": 3, "token_counter": len}
    with dspy.context(lm=lm):
        first = summarize_messages(history, **kwargs)
        again = summarize_messages(history, running_summary=first.running_summary, **kwargs)
    assert len(lm.engine.requests) == 1
    assert again.running_summary == first.running_summary
    assert [m.content for m in again.messages] == [m.content for m in first.messages]
    with dspy.context(lm=lm):  # the history grows past the threshold again: only new messages are summarized
        grown = summarize_messages(history + _history(6)[:5], running_summary=first.running_summary, **kwargs)
    assert len(lm.engine.requests) == 2
    assert lm.engine.requests[1].inputs["summary"] == "summary of 5 turns"
    assert grown.running_summary.summarized_message_ids > first.running_summary.summarized_message_ids


def test_repeated_identical_messages_get_distinct_stable_ids():
    history = [{"role": "user", "content": "ok"}, {"role": "assistant", "content": "ok"}] * 4
    lm = _lm()
    with dspy.context(lm=lm):
        result = summarize_messages(history, max_tokens=6, max_tokens_before_summary=5, max_summary_tokens=3,
                                    token_counter=len)
    assert len(result.running_summary.summarized_message_ids) == 5


def test_the_token_counter_receives_the_callers_own_messages():
    seen: list[object] = []

    def counter(messages):
        seen.extend(messages)
        return sum(len(m["content"].split()) for m in messages)

    history = _history(6, ids=True)
    with dspy.context(lm=_lm()):
        summarize_messages(history, max_tokens=8, max_tokens_before_summary=9, max_summary_tokens=2,
                           token_counter=counter)
    assert seen and all(any(m is h for h in history) for m in seen)


def test_model_is_the_summarizing_lm_and_lm_is_its_alias():
    lm = _lm()
    result = summarize_messages(_history(8), model=lm, max_tokens=4, max_tokens_before_summary=5,
                                max_summary_tokens=1, token_counter=len)
    assert result.running_summary is not None and len(lm.engine.requests) == 1
    summarize_messages(_history(8), lm=lm, max_tokens=6, max_tokens_before_summary=5, max_summary_tokens=3,
                       token_counter=len)
    assert len(lm.engine.requests) == 2
    with pytest.raises(ValidationError, match="not both"):
        summarize_messages(_history(8), model=lm, lm=_lm(), max_tokens=6, max_tokens_before_summary=5,
                           max_summary_tokens=3, token_counter=len)


def test_async_variant_gives_the_same_result():
    lm = _lm()
    kwargs = {"max_tokens": 6, "max_tokens_before_summary": 5, "max_summary_tokens": 3, "token_counter": len}
    with dspy.context(lm=lm):
        sync = summarize_messages(_history(8), **kwargs)
    result = asyncio.run(asummarize_messages(_history(8), model=lm, **kwargs))
    assert result.running_summary == sync.running_summary
    assert [m.content for m in result.messages] == [m.content for m in sync.messages]


def test_a_system_message_stays_first_and_is_never_summarized():
    history = [{"role": "system", "content": "Be brief.", "id": "sys"}, *_history(8, ids=True)]
    with dspy.context(lm=_lm()):
        result = summarize_messages(history, max_tokens=6, max_tokens_before_summary=5, max_summary_tokens=2,
                                    token_counter=len)
    assert result.messages[0].content == "Be brief."
    assert result.messages[1].content.startswith(SUMMARY_PREFIX)
    assert "sys" not in result.running_summary.summarized_message_ids


def test_a_running_summary_from_another_history_is_refused():
    state = RunningSummary("old", {"elsewhere"}, "elsewhere")
    with pytest.raises(ValidationError, match="same .growing. history"):
        summarize_messages(_history(4), running_summary=state, max_tokens=10, max_summary_tokens=1, token_counter=len)
