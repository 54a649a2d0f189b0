"""MemoryExtractor: one call by default, short ids, refusals, validation feedback, provenance."""

from __future__ import annotations

import json

import dspy
import pytest
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from engram.errors import BudgetExceededError, LMError, ValidationError
from engram.lm import track_usage
from engram.modules._extractor import MemoryExtractor
from engram.modules._schemas import Episode, Memory
from engram.testing._scripted import scripted_lm

CONV = [{"role": "user", "content": "I just moved to Lisbon for a new job at a fintech startup."},
        {"role": "assistant", "content": "Congratulations!"}]


def ops(*items):
    return "\n".join(json.dumps(i) for i in items)


def run(lm, **kwargs):
    memories = kwargs.pop("memories", None)
    conversation = kwargs.pop("conversation", CONV)
    with dspy.context(lm=lm), track_usage() as usage:
        pred = MemoryExtractor(**kwargs)(conversation=conversation, memories=memories)
    return pred, usage


def test_one_call_inserts_with_provenance():
    lm = scripted_lm({"ops": ops({"op": "insert", "content": "Lives in Lisbon", "quote": "moved to Lisbon"})})
    pred, usage = run(lm)
    assert usage.calls == 1
    [op] = pred.ops
    assert op.action == "insert" and op.content == Memory(content="Lives in Lisbon")
    assert op.provenance() == [{"trajectory_id": pred.trajectory_id, "quote": "moved to Lisbon"}]
    assert pred.trajectory_id.startswith("t_")
    assert [m.text for m in pred.memories] == ["Lives in Lisbon"] and pred.memories[0].new


def test_short_ids_are_shown_and_mapped_back_to_real_ids():
    existing = [("uuid-aaa", "Works at a bank"), ("uuid-bbb", "Likes tea")]
    lm = scripted_lm({"ops": ops({"op": "update", "id": 1, "content": "Works at a fintech startup",
                                  "quote": "new job at a fintech startup"},
                                 {"op": "delete", "id": "2", "quote": "moved"})})
    pred, usage = run(lm, memories=existing)
    shown = lm.engine.requests[0].inputs["memories"]
    assert shown == "1. Works at a bank\n2. Likes tea"
    assert "uuid-" not in lm.engine.requests[0].text  # real ids never reach the LM
    assert {(o.action, o.id, o.short_id) for o in pred.ops} == {("update", "uuid-aaa", 1), ("delete", "uuid-bbb", 2)}
    assert usage.calls == 1


def test_unshown_id_gets_one_corrective_retry_then_is_dropped_and_reported():
    bad = ops({"op": "delete", "id": 9, "quote": "delete everything"},
              {"op": "insert", "content": "Lives in Lisbon", "quote": "moved to Lisbon"})
    lm = scripted_lm([{"ops": bad}, {"ops": ops({"op": "delete", "id": "uuid-zzz", "quote": "x"})}])
    pred, usage = run(lm, memories=[("uuid-aaa", "Works at a bank")])
    assert usage.calls == 2  # the call plus exactly one corrective call
    assert "id 9 is not one of the listed memories" in lm.engine.requests[1].inputs["refused"]
    assert [o.action for o in pred.ops] == ["insert"]  # the valid op survived, nothing deleted
    reasons = [r.reason for r in pred.rejected]
    assert any("dropped after one corrective retry" in r for r in reasons)
    assert all(r.retried for r in pred.rejected)


def test_validation_error_is_fed_back_once_and_the_fix_is_used():
    class Preference(BaseModel):
        topic: str
        likes: bool

    first = ops({"op": "insert", "content": {"topic": "tea"}, "quote": "I love tea"})
    fixed = ops({"op": "insert", "content": {"topic": "tea", "likes": True}, "quote": "I love tea"})
    lm = scripted_lm([{"ops": first}, {"ops": fixed}])
    pred, usage = run(lm, schemas=[Preference], conversation="I love tea")
    assert usage.calls == 2
    assert "likes: Field required" in lm.engine.requests[1].inputs["refused"]
    assert pred.ops[0].content == Preference(topic="tea", likes=True)
    assert "Preference {topic, likes: bool}" in lm.engine.requests[0].instructions  # non-text types named


def test_missing_quote_is_refused():
    lm = scripted_lm([{"ops": ops({"op": "insert", "content": "Lives in Lisbon"})}, {"ops": ""}])
    pred, _ = run(lm)
    assert pred.ops == [] and "quote" in pred.rejected[0].reason


def test_disabled_operations_are_refused_and_announced():
    lm = scripted_lm([{"ops": ops({"op": "delete", "id": 1, "quote": "moved"})}, {"ops": ""}])
    pred, _ = run(lm, memories=[("a", "x")], enable_deletes=False)
    assert pred.ops == [] and "not allowed" in pred.rejected[0].reason
    assert "Allowed ops: insert, update." in lm.engine.requests[0].instructions


def test_several_kinds_need_a_kind_and_unknown_kinds_are_refused():
    line = ops({"op": "insert", "kind": "Fact", "content": "x", "quote": "moved"},
               {"op": "insert", "kind": "Episode", "content": {"observation": "moved"}, "quote": "moved"})
    lm = scripted_lm([{"ops": line}, {"ops": ""}])
    pred, _ = run(lm, schemas=[Memory, Episode])
    assert [o.kind for o in pred.ops] == ["Episode"]
    assert any("unknown kind 'Fact'" in r.reason for r in pred.rejected)


def test_update_of_structured_content_merges_fields():
    existing = [("e1", "Episode", {"observation": "asked for refund", "result": "refused"})]
    lm = scripted_lm({"ops": ops({"op": "update", "id": 1, "content": {"result": "refunded"}, "quote": "thanks"})})
    pred, _ = run(lm, schemas=[Episode], memories=existing)
    assert pred.ops[0].content == Episode(observation="asked for refund", result="refunded")


def test_max_steps_stops_early_when_nothing_changes_and_consolidates():
    step1 = ops({"op": "insert", "content": "Lives in Lisbon", "quote": "moved to Lisbon"})
    step2 = ops({"op": "update", "id": 1, "content": "Lives in Lisbon, Portugal", "quote": "Lisbon"})
    lm = scripted_lm([{"ops": step1}, {"ops": step2}, {"ops": ""}, {"ops": "never asked"}])
    pred, usage = run(lm, max_steps=5)
    assert usage.calls == 3
    assert lm.engine.requests[1].inputs["memories"] == "1. Lives in Lisbon"
    [op] = pred.ops
    assert op.action == "insert" and op.content.content == "Lives in Lisbon, Portugal"
    assert op.quotes == ["moved to Lisbon", "Lisbon"] and pred.steps == 3


def test_empty_conversation_and_bad_schemas_are_clear_errors():
    lm = scripted_lm({"ops": ""})
    with dspy.context(lm=lm):
        with pytest.raises(ValidationError, match="conversation is empty"):
            MemoryExtractor()(conversation=[])
        with pytest.raises(ValidationError, match="conversation is empty"):
            MemoryExtractor()(conversation="   ")
    with pytest.raises(ValidationError, match="pydantic model"):
        MemoryExtractor(schemas=[dict])
    with pytest.raises(ValidationError, match="not among the schemas"), dspy.context(lm=lm):
        MemoryExtractor()(conversation="hi", memories=[("a", "Episode", {"observation": "x"})])


def test_over_budget_conversation_is_truncated_or_refused():
    long = [{"role": "user", "content": f"message {i} " + "word " * 60} for i in range(40)]
    lm = scripted_lm({"ops": ""})
    pred, _ = run(lm, conversation=long, max_conversation_tokens=300)
    sent = lm.engine.requests[0].inputs["conversation"]
    assert pred.truncated and sent.startswith("[") and "earlier messages omitted" in sent
    assert "message 39" in sent and "message 0 " not in sent
    with pytest.raises(BudgetExceededError, match="over the budget"):
        run(lm, conversation=long, max_conversation_tokens=300, truncate=False)


def test_lm_failure_is_an_lm_error():
    def boom(call):
        raise RuntimeError("provider down")

    with pytest.raises(LMError, match="provider down"):
        run(scripted_lm(boom))


def test_async_matches_sync():
    import asyncio

    lm = scripted_lm({"ops": ops({"op": "insert", "content": "Lives in Lisbon", "quote": "moved to Lisbon"})})

    async def go():
        with dspy.context(lm=lm):
            return await MemoryExtractor().acall(conversation=CONV)

    pred = asyncio.run(go())
    assert [m.text for m in pred.memories] == ["Lives in Lisbon"]


def test_triple_memory_derives_its_content():
    m = Memory(subject="user", predicate="lives in", object="Lisbon")
    assert m.content == "user lives in Lisbon" and m.is_triple
    with pytest.raises(PydanticValidationError):
        Memory()


def test_answers_in_other_json_shapes_are_read():
    from engram.modules._operations import parse_op_lines

    pretty = 'Here you go:\n```json\n{\n  "op": "insert",\n  "content": "A",\n  "quote": "a"\n}\n```\nDone.'
    array = '[{"op": "add", "content": "B", "quote": "b"}, {"action": "remove", "memory": "2", "quote": "c"}]'
    broken = '{"op": "insert", "content": "C" "quote": "c"}\nNo other changes [none].'
    assert [o["content"] for _, o in parse_op_lines(pretty)[0]] == ["A"]
    items, bad = parse_op_lines(array)
    assert [(o["op"], o.get("id")) for _, o in items] == [("insert", None), ("delete", "2")] and not bad
    items, bad = parse_op_lines(broken)
    assert items == [] and [b.reason for b in bad] == ["not a valid JSON object"]
