"""Summaries: thread summarizer (default and user schema) and the running summary under a budget."""

from __future__ import annotations

import dspy
from pydantic import BaseModel

from engram.lm import track_usage
from engram.modules._summaries import (
    SUMMARY_PREFIX,
    RunningSummary,
    ThreadSummarizer,
    summarize_messages,
)
from engram.testing._scripted import scripted_lm


def test_thread_summarizer_title_and_summary():
    lm = scripted_lm({"title": "Move to Lisbon", "summary": "User moved to Lisbon."})
    with dspy.context(lm=lm):
        pred = ThreadSummarizer()(conversation=[{"role": "user", "content": "I moved to Lisbon"}])
    assert (pred.title, pred.summary) == ("Move to Lisbon", "User moved to Lisbon.")
    assert lm.engine.requests[0].inputs["conversation"] == "user: I moved to Lisbon"


def test_thread_summarizer_with_a_user_schema():
    class Notes(BaseModel):
        topic: str
        action_items: list[str]

    lm = scripted_lm({"summary": Notes(topic="billing", action_items=["refund"])})
    with dspy.context(lm=lm):
        pred = ThreadSummarizer(schema=Notes)(conversation="I was charged twice, please refund")
    assert pred.summary == Notes(topic="billing", action_items=["refund"])


def _turn(i, words=40):
    return [{"role": "user", "content": f"question {i} " + "blah " * words},
            {"role": "assistant", "content": f"answer {i} " + "blah " * words}]


def test_short_history_is_not_summarized():
    lm = scripted_lm({"new_summary": "never"})
    with dspy.context(lm=lm), track_usage() as usage:
        result = summarize_messages(_turn(0), max_tokens=1000)
    assert usage.calls == 0 and result.running_summary is None and len(result.messages) == 2


def test_long_history_is_summarized_incrementally_under_budget():
    lm = scripted_lm(lambda call: {"new_summary": f"S[{call.inputs['messages'].count('question')}]"})
    history = [{"role": "system", "content": "You are helpful."}]
    state = None
    with dspy.context(lm=lm):
        for i in range(12):
            history.extend(_turn(i))
            result = summarize_messages(history, running_summary=state, max_tokens=400,
                                            max_tokens_before_summary=250, max_summary_tokens=60)
            state = result.running_summary or state
    assert result.messages[0].content == "You are helpful."
    assert result.messages[1].content.startswith(SUMMARY_PREFIX)
    assert result.messages[-1].content.startswith("answer 11")
    summarized = len(state.summarized_message_ids)
    assert summarized + (len(result.messages) - 2) == len(history) - 1  # nothing lost or repeated
    # every summarization call only saw messages not summarized before
    seen = [r.inputs["messages"] for r in lm.engine.requests]
    assert sum(s.count("question") for s in seen) == sum(1 for m in history[1:summarized + 1]
                                                         if m["role"] == "user")


def test_a_tool_call_is_never_separated_from_its_result():
    call = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]}
    result_msg = {"role": "tool", "content": "result " + "data " * 80, "tool_call_id": "c1"}
    history = [*_turn(0), *_turn(1), call, result_msg, {"role": "assistant", "content": "Done."}]
    lm = scripted_lm({"new_summary": "earlier turns"})
    with dspy.context(lm=lm):
        for budget in range(150, 600, 25):
            out = summarize_messages(history, max_tokens=budget, max_summary_tokens=40)
            roles = [m.role for m in out.messages]
            first_kept = roles.index("system") + 1 if "system" in roles else 0
            assert roles[first_kept:first_kept + 1] != ["tool"]
            if "tool" in roles:
                assert roles[roles.index("tool") - 1] == "assistant" and out.messages[roles.index("tool") - 1].tool_calls
            summarized = " ".join(r.inputs["messages"] for r in lm.engine.requests)
            assert not ("lookup" in summarized) ^ ("result data" in summarized)
            lm.engine.requests.clear()


def test_running_summary_must_match_the_history():
    import pytest

    from engram.errors import ValidationError

    with pytest.raises(ValidationError, match="not in the messages"):
        summarize_messages(_turn(0), running_summary=RunningSummary("s", {"m-9"}, "m-9"))
