"""Exports keep the template exactly; a compiled DSPy program exports the messages DSPy sends."""

from __future__ import annotations

import json

import dspy
import pytest
import yaml

from engram.errors import TemplateError, ValidationError
from engram.prompts import Prompt
from engram.tracking._export import export_prompt, load_export, write_export
from engram.tracking._program_export import export_program

TEXT = Prompt(name="support", template="You help {company} customers.\nBe {tone}; reply in JSON like {\"a\": 1}.",
              version="3", update_instructions="keep it short")
CHAT = Prompt(name="chat", template=[{"role": "system", "content": "You are {company}'s agent."},
                                     {"role": "user", "content": "{question}"}])
MUSTACHE = Prompt(name="m", template="Hello {{name}}!")


@pytest.mark.parametrize("prompt", [TEXT, CHAT, MUSTACHE], ids=["text", "chat", "mustache"])
@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_json_and_yaml_round_trip(tmp_path, prompt, fmt):
    path = write_export(prompt, tmp_path / f"p.{fmt}")
    assert load_export(path) == prompt
    data = json.loads(path.read_text()) if fmt == "json" else yaml.safe_load(path.read_text())
    assert data["template"] == prompt.template


@pytest.mark.parametrize("prompt", [TEXT, CHAT, MUSTACHE], ids=["text", "chat", "mustache"])
def test_python_module_formats_like_the_prompt(prompt):
    namespace: dict = {}
    exec(export_prompt(prompt, "python"), namespace)
    values = {v: f"<{v}>" for v in prompt.variables}
    assert namespace["TEMPLATE"] == prompt.template
    assert namespace["VARIABLES"] == prompt.variables
    assert namespace["format"](**values) == prompt.format(**values)
    with pytest.raises(KeyError, match="missing template variable"):
        namespace["format"]()


def test_openai_messages_and_text():
    assert export_prompt(TEXT, "openai", values={"company": "Acme", "tone": "warm"}) == [
        {"role": "system", "content": 'You help Acme customers.\nBe warm; reply in JSON like {"a": 1}.'}]
    assert export_prompt(CHAT, "openai") == CHAT.template
    assert export_prompt(TEXT, "text") == TEXT.template
    assert "[system]\nYou are {company}'s agent." in export_prompt(CHAT, "text")


def test_unknown_format_is_refused():
    with pytest.raises(ValidationError, match="choose one of json, yaml, text, openai, python") as info:
        export_prompt(TEXT, "xml")
    assert "write_export" not in str(info.value)


def test_a_file_name_given_as_the_format_points_to_write_export(tmp_path):
    target = tmp_path / "support.yaml"
    with pytest.raises(ValidationError, match=r"use engram\.tracking\.write_export\(prompt, '.*support\.yaml'\)"):
        export_prompt(TEXT, str(target))
    assert not target.exists()


class QA(dspy.Signature):
    """Answer the customer's question politely, citing the context."""

    question: str = dspy.InputField(desc="what the customer asked")
    context: str = dspy.InputField()
    answer: str = dspy.OutputField(desc="one short paragraph")


class Pipeline(dspy.Module):
    def __init__(self):
        super().__init__()
        self.draft = dspy.ChainOfThought(QA)
        self.polish = dspy.Predict("answer, tone -> final")


def _compiled() -> Pipeline:
    train = [dspy.Example(question="Where is my order?", context="Orders ship in 2 days.",
                          reasoning="Shipping takes 2 days.", answer="It ships within 2 days.",
                          answer_text="x").with_inputs("question", "context"),
             dspy.Example(question="Refund?", context="Refunds in 5 days.",
                          answer="Refunds take 5 days.").with_inputs("question", "context")]
    program = Pipeline()
    compiled = dspy.LabeledFewShot(k=2).compile(program, trainset=train)
    compiled.draft.predict.signature = compiled.draft.predict.signature.with_instructions(
        "Optimized: answer in two sentences, cite the context.")
    return compiled


@pytest.mark.parametrize("inputs", [
    {"question": "Can I change my address?", "context": "Addresses can change before shipping."},
    {"question": "Why {{context}} here?", "context": "braces {x} and {{y}} stay as typed"},
    {"question": "multi\nline\n", "context": {"policy": "json-like", "days": 3}},
])
def test_program_export_renders_exactly_like_chat_adapter(inputs):
    compiled = _compiled()
    exported = export_program(compiled)
    assert [p.name for p in exported.predictors] == ["draft.predict", "polish"]
    draft = exported.predictor("draft.predict")
    assert draft.instructions == "Optimized: answer in two sentences, cite the context."
    assert len(draft.demos) == 2
    expected = dspy.ChatAdapter().format(compiled.draft.predict.signature, compiled.draft.predict.demos, inputs)
    assert draft.render(**inputs) == expected
    # ... also after a trip through JSON (what production would load)
    reloaded = type(exported).model_validate_json(exported.to_json())
    assert reloaded.predictor("draft.predict").render(**inputs) == expected


def test_program_python_module_renders_like_chat_adapter():
    compiled = _compiled()
    exported = export_program(compiled)
    namespace: dict = {}
    exec(exported.export("python"), namespace)
    inputs = {"question": "Why {{context}}?", "context": {"days": 3}}
    expected = dspy.ChatAdapter().format(compiled.draft.predict.signature, compiled.draft.predict.demos, inputs)
    assert namespace["render"]("draft.predict", **inputs) == expected
    polish = {"answer": "It ships soon.", "tone": "warm"}
    assert namespace["render"]("polish", **polish) == dspy.ChatAdapter().format(
        compiled.polish.signature, compiled.polish.demos, polish)
    assert "=== draft.predict" in exported.export("text")
    assert yaml.safe_load(exported.export("yaml"))["predictors"][1]["name"] == "polish"
    assert exported.export("openai")["polish"] == exported.predictor("polish").messages


def test_program_export_refuses_missing_inputs_and_non_programs():
    draft = export_program(_compiled()).predictor("draft.predict")
    with pytest.raises(TemplateError, match="context"):
        draft.render(question="hi")
    with pytest.raises(ValidationError, match="dspy.Module"):
        export_program("not a program")


def _docstring_example(module) -> str:
    import textwrap

    doc = module.__doc__
    block = doc.split("::\n", 1)[1].split("\n\n", 1)[0]
    return textwrap.dedent(block)


def test_the_program_export_docstring_example_runs():
    from engram.tracking import _program_export

    namespace: dict = {"export_program": export_program}
    exec(_docstring_example(_program_export), namespace)  # noqa: S102  (asserts render == ChatAdapter.format)
    assert "{{question}}" in namespace["templates"]["self"][-1]["content"]
