"""Export a compiled DSPy program as the exact messages DSPy would send.

Copying a compiled program's instructions by hand loses the demos and the field layout
(DSPy issue #8042: most of the optimization gain disappeared). This export asks DSPy's own
adapter to format every predictor, with each input replaced by a ``{{input}}`` placeholder,
so filling the placeholders gives the same messages ``dspy.ChatAdapter().format(...)``
builds at run time::

    import dspy
    compiled = dspy.Predict("question -> answer")         # or any compiled dspy.Module
    exported = export_program(compiled)                   # ProgramExport
    step = exported.predictors[0]
    messages = step.render(question="Where is my order?")  # == what DSPy would send
    assert messages == dspy.ChatAdapter().format(compiled.signature, [], {"question": "Where is my order?"})
    text = exported.to_json()                             # or .export("yaml" | "python" | ...)
    templates = exported.to_openai()                      # predictor -> messages with {{question}}

(A predictor is not a registrable :class:`~engram.prompts.Prompt`: DSPy's own messages
contain ``{answer}``-style text that a prompt template would read as variables.)

Inputs are formatted as DSPy formats them: strings as they are, lists and dicts as JSON,
other values with ``str()``. (DSPy numbers the items of a list passed to a *str* field;
pass such a list pre-joined, or declare the field ``list[str]``.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from engram.errors import TemplateError, ValidationError


class FieldSpec(BaseModel):
    """One input or output field of a signature."""

    name: str
    type: str
    desc: str = ""


class PredictorExport(BaseModel):
    """One predictor of a program: its instructions, fields, demos and message template."""

    name: str
    signature: str
    instructions: str
    inputs: list[FieldSpec]
    outputs: list[FieldSpec]
    demos: list[dict[str, Any]] = Field(default_factory=list)
    messages: list[dict[str, str]]
    adapter: str = "ChatAdapter"

    def render(self, **inputs: Any) -> list[dict[str, str]]:
        """The messages for these inputs (every input field is required)."""
        names = [f.name for f in self.inputs]
        missing = [n for n in names if n not in inputs]
        if missing:
            raise TemplateError(f"No value for input field(s) {missing} of predictor '{self.name}'.")
        pattern = re.compile(r"\{\{(" + "|".join(re.escape(n) for n in names) + r")\}\}") if names else None
        values = {n: _format_value(inputs[n]) for n in names}
        if pattern is None:
            return [dict(m) for m in self.messages]
        # One pass, so a value that itself contains "{{other}}" is never substituted again.
        return [{**m, "content": pattern.sub(lambda x: values[x.group(1)], m["content"])} for m in self.messages]


class ProgramExport(BaseModel):
    """Every predictor of a DSPy program, in the order ``named_predictors()`` lists them."""

    program: str
    predictors: list[PredictorExport]

    def predictor(self, name: str) -> PredictorExport:
        for p in self.predictors:
            if p.name == name:
                return p
        raise ValidationError(f"No predictor '{name}'; the program has {[p.name for p in self.predictors]}.")

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def to_openai(self) -> dict[str, list[dict[str, str]]]:
        """predictor name -> message template (``{{input}}`` placeholders)."""
        return {p.name: [dict(m) for m in p.messages] for p in self.predictors}

    def to_yaml(self) -> str:
        from engram.tracking._export import yaml_dump

        return yaml_dump(self.model_dump(mode="json"))

    def to_text(self) -> str:
        """Each predictor's messages as ``[role]`` blocks, for reading."""
        blocks = []
        for p in self.predictors:
            body = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in p.messages)
            blocks.append(f"=== {p.name} ({p.signature}) ===\n{body}")
        return "\n\n".join(blocks) + "\n"

    def to_python_module(self) -> str:
        """A standalone module: ``MESSAGES[predictor]`` and ``render(predictor, **inputs)``."""
        return _MODULE.format(program=self.program, messages=self.to_openai(),
                              inputs={p.name: [f.name for f in p.inputs] for p in self.predictors},
                              first=self.predictors[0].name,
                              example=", ".join(f"{f.name}=..." for f in self.predictors[0].inputs))

    def export(self, fmt: str = "json") -> str | dict:
        """The export in ``fmt``: json, yaml, text, openai (a dict) or python."""
        makers: dict[str, Callable[[], str | dict]] = {"json": self.to_json, "yaml": self.to_yaml, "text": self.to_text,
                  "openai": self.to_openai, "python": self.to_python_module}
        if fmt not in makers:
            raise ValidationError(f"Unknown export format {fmt!r}; choose one of {', '.join(makers)}.")
        return makers[fmt]()


_MODULE = '''"""The messages DSPy sends for {program}, exported by engram. Needs only the standard library.

    from program_prompts import render
    messages = render({first!r}, {example})
"""

import json
import re

MESSAGES = {messages!r}
INPUTS = {inputs!r}


def _value(value):
    # DSPy's formatting of a plain input field: text as is, lists and dicts as JSON.
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def render(predictor, **inputs):
    """The chat messages for ``predictor`` with its input fields filled."""
    names = INPUTS[predictor]
    missing = [n for n in names if n not in inputs]
    if missing:
        raise KeyError("missing input field(s): " + ", ".join(missing))
    values = {{n: _value(inputs[n]) for n in names}}
    pattern = re.compile(r"\\{{\\{{(" + "|".join(re.escape(n) for n in names) + r")\\}}\\}}")
    return [dict(m, content=pattern.sub(lambda x: values[x.group(1)], m["content"]) if names else m["content"])
            for m in MESSAGES[predictor]]
'''


def _format_value(value: Any) -> str:
    # The rules of dspy.adapters.utils.format_field_value for a plain (str-typed) input field.
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation)


def _plain(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


def export_predictor(name: str, predictor: Any, adapter: Any = None) -> PredictorExport:
    """Export one ``dspy.Predict`` (the formatting comes from ``adapter``, default ChatAdapter)."""
    import dspy

    adapter = adapter or dspy.ChatAdapter()
    signature = predictor.signature
    inputs = list(signature.input_fields)
    for field_name, info in signature.input_fields.items():
        if getattr(info.annotation, "__name__", "") == "History":
            raise ValidationError(f"Predictor '{name}' has a dspy.History input ('{field_name}'); its "
                                      "messages depend on the conversation, so it cannot be exported as a template.")
    demos = list(predictor.demos or [])
    placeholders = {n: "{{" + n + "}}" for n in inputs}
    static = adapter.format(signature, demos, {})  # without inputs: to detect placeholder clashes
    for message in static:
        for token in placeholders.values():
            if token in message["content"]:
                raise TemplateError(f"Predictor '{name}': the instructions or demos already contain {token}, "
                                    "which the export uses as the input placeholder; rename the field.")
    messages = adapter.format(signature, demos, placeholders)
    return PredictorExport(
        name=name, signature=signature.signature, instructions=signature.instructions,
        inputs=[FieldSpec(name=n, type=_type_name(f.annotation), desc=f.json_schema_extra.get("desc", "") or "")
                for n, f in signature.input_fields.items()],
        outputs=[FieldSpec(name=n, type=_type_name(f.annotation), desc=f.json_schema_extra.get("desc", "") or "")
                 for n, f in signature.output_fields.items()],
        demos=[{k: _plain(v) for k, v in (d.toDict() if hasattr(d, "toDict") else dict(d)).items()} for d in demos],
        messages=[{"role": m["role"], "content": m["content"]} for m in messages],
        adapter=type(adapter).__name__,
    )


def export_program(program: Any, adapter: Any = None) -> ProgramExport:
    """Export every predictor of a (compiled) ``dspy.Module`` or a single ``dspy.Predict``."""
    import dspy

    if isinstance(program, dspy.Predict):
        named = [("self", program)]
    elif isinstance(program, dspy.Module):
        named = list(program.named_predictors())
    else:
        raise ValidationError(f"Cannot export a {type(program).__name__}; pass a dspy.Module or dspy.Predict.")
    if not named:
        raise ValidationError(f"{type(program).__name__} has no predictors to export.")
    return ProgramExport(program=type(program).__name__,
                         predictors=[export_predictor(n, p, adapter) for n, p in named])
