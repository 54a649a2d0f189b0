"""memory_f1 (embedding matches) and compiling the extractor with BootstrapFewShot, MIPROv2 and GEPA."""

from __future__ import annotations

import json

import dspy
import pytest

from engram.modules._compile import compile_extractor, memory_examples
from engram.modules._extractor import MemoryExtractor
from engram.modules._metrics import MemoryF1, memory_f1
from engram.testing._scripted import scripted_lm
from tests.modules.conftest import WordHashEmbedder

FACTS = {"vegetarian": "Is vegetarian", "Lisbon": "Lives in Lisbon", "Rust": "Codes in Rust",
         "cafes": "Works from cafes"}


def pred_of(*texts):
    return dspy.Prediction(memories=list(texts))


def test_memory_f1_matches_by_meaning_with_minilm():
    gold = dspy.Example(expected_memories=["The user lives in Lisbon", "The user is vegetarian"])
    assert memory_f1(gold, pred_of("Lives in Lisbon, Portugal", "Doesn't eat meat; vegetarian")) == 1.0
    half = memory_f1(gold, pred_of("Lives in Lisbon", "Owns a red bicycle"))
    assert half == pytest.approx(0.5)
    assert memory_f1(gold, pred_of()) == 0.0
    assert memory_f1(dspy.Example(expected_memories=[]), pred_of()) == 1.0


def test_matching_is_one_to_one_and_gepa_gets_feedback():
    metric = MemoryF1(threshold=0.6, embedder=WordHashEmbedder())
    gold = dspy.Example(expected_memories=["Lives in Lisbon"])
    assert metric(gold, pred_of("Lives in Lisbon", "Lives in Lisbon")) == pytest.approx(2 / 3)
    out = metric(gold, pred_of("Codes in Rust"), None, "extract", None)
    assert out.score == 0.0 and "Missed: Lives in Lisbon" in out.feedback and "Not expected: Codes in Rust" in out.feedback


def _train():
    convs = ["I'm vegetarian and I live in Lisbon", "I code in Rust these days", "I like working from cafes",
             "Lisbon is home now, and Rust is my language", "Just saying hi"]
    items = []
    for text in convs:
        expected = [fact for key, fact in FACTS.items() if key in text]
        items.append({"conversation": [{"role": "user", "content": text}], "expected_memories": expected})
    return memory_examples(items)


def _generic(call):
    """Stand-in answers: correct extraction ops, and plausible text for optimizer signatures."""
    if "ops" in call.output_fields:
        conv = call.inputs.get("conversation", "")
        return {"ops": "\n".join(json.dumps({"op": "insert", "content": fact, "quote": key})
                                 for key, fact in FACTS.items() if key in conv)}
    out = {}
    for name, kind in call.output_fields.items():
        if "list" in kind:
            out[name] = []
        elif "bool" in kind:
            out[name] = True
        elif "int" in kind or "float" in kind:
            out[name] = 1
        else:
            out[name] = "Extract every durable fact about the user as one memory, with a quote."
    return out


@pytest.fixture
def metric():
    return MemoryF1(threshold=0.6, embedder=WordHashEmbedder())


def test_examples_need_labels():
    from engram.errors import ValidationError

    with pytest.raises(ValidationError, match="expected_memories"):
        memory_examples([{"conversation": "hi"}])


def test_bootstrap_compile_adds_demos_that_reach_the_lm(metric):
    lm = scripted_lm(_generic)
    compiled = compile_extractor(_train(), optimizer="bootstrap", metric=metric, lm=lm, max_bootstrapped_demos=2)
    assert isinstance(compiled, MemoryExtractor) and len(compiled.extract.demos) == 2
    assert all(demo.get("ops") for demo in compiled.extract.demos)
    lm.engine.requests.clear()
    with dspy.context(lm=lm):
        pred = compiled(conversation="I'm vegetarian")
    assert [m.text for m in pred.memories] == ["Is vegetarian"]
    assert lm.engine.requests[0].demos == 2


def test_a_compiled_extractor_saves_and_loads(metric, tmp_path):
    lm = scripted_lm(_generic)
    compiled = compile_extractor(_train(), optimizer="bootstrap", metric=metric, lm=lm, max_bootstrapped_demos=2)
    compiled.save(tmp_path / "extractor.json")
    fresh = MemoryExtractor()
    fresh.load(tmp_path / "extractor.json")
    assert len(fresh.extract.demos) == 2 and fresh.extract.demos[0]["ops"] == compiled.extract.demos[0]["ops"]


def test_mipro_compile_runs_with_the_scripted_lm(metric):
    lm = scripted_lm(_generic)
    compiled = compile_extractor(_train(), optimizer="mipro", metric=metric, lm=lm, reflection_lm=lm,
                                 num_trials=2, num_candidates=2, max_bootstrapped_demos=1,
                                 num_threads=1)
    assert isinstance(compiled, MemoryExtractor)
    with dspy.context(lm=lm):
        assert metric(_train()[0], compiled(**_train()[0].inputs())) == 1.0


def test_gepa_compile_runs_with_the_scripted_lm(metric):
    lm = scripted_lm(_generic)
    train = _train()
    compiled = compile_extractor(train[:3], valset=train[3:], optimizer="gepa", metric=metric, lm=lm,
                                 reflection_lm=lm, max_metric_calls=12, num_threads=1)
    assert isinstance(compiled, MemoryExtractor)
