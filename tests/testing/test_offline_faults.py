"""Fault injection: each kind, as DSPy sees it, plus seeding and the record of faults."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import dspy
import pytest
from dspy.utils.exceptions import (
    AdapterParseError,
    LMError,
    LMRateLimitError,
    LMServerError,
    LMTimeoutError,
)

from engram.errors import TemplateError
from engram.prompts import check_variables, find_variables
from engram.testing._faults import FAULT_KINDS, faulty_lm
from engram.testing._scripted import scripted_lm
from engram.testing._world import simulated_lm


class Write(dspy.Signature):
    prompt: str = dspy.InputField()
    recommendations: str = dspy.InputField()
    improved_prompt: str = dspy.OutputField()


def _ask(lm, message="I forgot my password", signature="message -> response"):
    with dspy.context(lm=lm):
        return dspy.Predict(signature)(message=message)


def test_exception_is_a_retryable_provider_error_and_retries_happen():
    lm = faulty_lm(simulated_lm(), rate=1.0, kinds=("exception",), num_retries=2)
    with pytest.raises((LMServerError, LMRateLimitError)):
        _ask(lm)
    assert [kind for _, kind in lm.engine.log] == ["exception"] * 3  # first try + 2 retries
    assert all("provider failure" not in f.detail for f in lm.engine.faults)


def test_retries_recover_from_intermittent_failures():
    lm = faulty_lm(simulated_lm(), rate=0.5, kinds=("exception", "timeout"), num_retries=6, seed=1)
    answers = [_ask(lm, f"where is my package number {i}?").response for i in range(8)]
    assert all("tracking page" in a for a in answers)
    assert lm.engine.counts()  # some faults happened and were retried through


def test_timeout_raises_dspy_timeout_error():
    lm = faulty_lm(simulated_lm(), rate=1.0, kinds=("timeout",))
    with pytest.raises(LMTimeoutError):
        _ask(lm)
    assert lm.engine.faults[0].kind == "timeout"


def test_malformed_output_fails_the_adapter():
    lm = faulty_lm(simulated_lm(), rate=1.0, kinds=("malformed",))
    with pytest.raises(AdapterParseError):
        _ask(lm)
    # ChatAdapter failed, then DSPy's JSONAdapter fallback got malformed JSON too
    assert len(lm.engine.faults) == 2 and {f.kind for f in lm.engine.faults} == {"malformed"}


def test_missing_field_is_recorded_and_fails_parsing():
    lm = faulty_lm(simulated_lm(), rate=1.0, kinds=("missing_field",))
    with pytest.raises(AdapterParseError):
        _ask(lm, signature="message -> response, summary")
    assert lm.engine.faults[0].detail in ("response", "summary")


def test_invented_ids_were_never_shown():
    base = scripted_lm({"memory_ids": ["mem_1", "mem_2"], "chosen_id": "mem_2", "note": "keep"})
    lm = faulty_lm(base, rate=1.0, kinds=("invented_id",))
    with dspy.context(lm=lm):
        out = dspy.Predict("memories: str -> memory_ids: list[str], chosen_id: str, note: str")(
            memories="mem_1: likes tea\nmem_2: lives in Oslo")
    assert len(out.memory_ids) == 2 and out.note == "keep"
    for new_id in [*out.memory_ids, out.chosen_id]:
        assert new_id.startswith("mem_") and new_id not in ("mem_1", "mem_2")
    assert lm.engine.faults[0].detail == "3 id(s) replaced"


def test_invented_ids_inside_structured_outputs():
    base = scripted_lm({"records": [{"id": "a1", "text": "x"}]})
    lm = faulty_lm(base, rate=1.0, kinds=("invented_id",))
    with dspy.context(lm=lm):
        out = dspy.Predict("query -> records: list[dict[str, str]]")(query="a1")
    assert out.records[0]["text"] == "x" and out.records[0]["id"] != "a1"


def test_dropped_template_variable():
    prompt = "You help {company} customers with {{product}}."
    lm = faulty_lm(simulated_lm(), rate=1.0, kinds=("dropped_variable",))
    with dspy.context(lm=lm):
        out = dspy.Predict(Write)(prompt=prompt, recommendations="No ticket number.")
    assert len(find_variables(out.improved_prompt)) == 1
    with pytest.raises(TemplateError):
        check_variables(prompt, out.improved_prompt)
    # without faults the writer keeps both variables
    with dspy.context(lm=simulated_lm()):
        clean = dspy.Predict(Write)(prompt=prompt, recommendations="No ticket number.")
    check_variables(prompt, clean.improved_prompt)


def test_inapplicable_kinds_are_skipped():
    # a plain response has no ids and no template variables: nothing to inject
    lm = faulty_lm(simulated_lm(), rate=1.0, kinds=("invented_id", "dropped_variable"))
    assert "sign-in page" in _ask(lm).response
    assert lm.engine.faults == [] and lm.engine.log == [(1, None)]


def test_rate_zero_and_validation():
    lm = faulty_lm(simulated_lm(), rate=0.0)
    for i in range(5):
        _ask(lm, f"refund {i}")
    assert lm.engine.faults == [] and len(lm.engine.log) == 5
    with pytest.raises(ValueError, match="unknown fault kind"):
        faulty_lm(simulated_lm(), kinds=("gremlins",))
    with pytest.raises(ValueError, match="rate"):
        faulty_lm(simulated_lm(), rate=1.5)
    with pytest.raises(TypeError):
        faulty_lm(dspy.LM("openai/gpt-4o-mini"))


def _faulted_messages(lm, messages, parallel):
    def run(m):
        try:
            _ask(lm, m)
            return m, None
        except LMError as exc:
            return m, type(exc).__name__
    if parallel:
        with ThreadPoolExecutor(4) as pool:
            return dict(pool.map(run, messages))
    return dict(map(run, messages))


def test_faults_are_seeded_by_content_not_timing():
    messages = [f"my order {i} is late" for i in range(16)]
    kinds = ("exception", "timeout")
    serial = _faulted_messages(faulty_lm(simulated_lm(), rate=0.4, kinds=kinds, seed=7), messages, False)
    parallel = _faulted_messages(faulty_lm(simulated_lm(), rate=0.4, kinds=kinds, seed=7),
                                 list(reversed(messages)), True)
    other = _faulted_messages(faulty_lm(simulated_lm(), rate=0.4, kinds=kinds, seed=8), messages, False)
    assert serial == parallel
    assert any(serial.values()) and not all(serial.values())
    assert serial != other


def test_every_kind_is_known():
    assert set(FAULT_KINDS) == {"exception", "timeout", "malformed", "missing_field", "invented_id",
                                "dropped_variable"}


def test_faults_reach_async_callers_too():
    import asyncio

    lm = faulty_lm(simulated_lm(latency=0.01), rate=1.0, kinds=("timeout",))

    async def main():
        with dspy.context(lm=lm):
            return await dspy.Predict("message -> response").acall(message="refund")

    with pytest.raises(LMTimeoutError):
        asyncio.run(main())
    assert lm.engine.counts() == {"timeout": 1}
