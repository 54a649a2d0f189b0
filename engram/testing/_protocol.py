"""How an offline stand-in reads a DSPy request and writes its answer.

DSPy's adapters (ChatAdapter, JSONAdapter) render a signature into chat messages:
the system message lists the input and output fields and the instructions, the last
user message holds ``[[ ## field ## ]]`` sections. :func:`parse_request` recovers that
structure so a stand-in can answer by signature; :func:`format_outputs` renders the
answer the way the adapter expects to parse it. This is what lets the stand-ins go
through DSPy's real adapter and LM path.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

_FIELD_LINE = re.compile(r"^\d+\. `(?P<name>\w+)` \((?P<type>[^)]*)\)", re.MULTILINE)
_OBJECTIVE = "In adhering to this structure, your objective is: "


@dataclass
class ParsedCall:
    """One LM request as the stand-in sees it."""

    instructions: str
    inputs: dict[str, str]
    input_fields: list[str]
    output_fields: dict[str, str]  # name -> type name as DSPy printed it
    adapter: str  # "chat", "json" or "raw" (not a DSPy signature call)
    messages: list[dict[str, str]] = field(default_factory=list)
    demos: int = 0
    #: JSON schemas DSPy printed for structured output fields (pydantic models, lists of them)
    output_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the allowed values DSPy printed for ``Literal`` output fields
    output_choices: dict[str, list[str]] = field(default_factory=dict)

    @property
    def signature_key(self) -> str:
        """``"in1, in2 -> out1, out2"``: a stable way to tell signatures apart."""
        return f"{', '.join(self.input_fields)} -> {', '.join(self.output_fields)}"

    @property
    def text(self) -> str:
        """The whole request as one string (for keyword matching)."""
        return "\n".join(m["content"] for m in self.messages)


def _fields_between(system: str, start: str, stop: str) -> list[tuple[str, str]]:
    begin = system.find(start)
    if begin < 0:
        return []
    end = system.find(stop, begin + len(start))
    block = system[begin + len(start): end if end >= 0 else None]
    return [(m.group("name"), m.group("type")) for m in _FIELD_LINE.finditer(block)]


_REQUIREMENTS = re.compile(r"\n\nRespond with (the corresponding output fields|a JSON object)[^\n]*\s*$")


def _sections(content: str, names: list[str]) -> dict[str, str]:
    """Values of the ``[[ ## name ## ]]`` sections for the declared input names only."""
    content = _REQUIREMENTS.sub("", content)
    if not names:
        return {}
    header = re.compile(r"^\[\[ ## (" + "|".join(map(re.escape, names)) + r") ## \]\]$", re.MULTILINE)
    parts = header.split(content)
    out: dict[str, str] = {}
    # parts: [preamble, name1, body1, name2, body2, ...]
    for name, body in zip(parts[1::2], parts[2::2]):
        out[name] = body.strip()
    return out


_SCHEMA_NOTE = re.compile(r"\{(?P<name>\w+)\}\s+# note: the value you produce must adhere to the JSON schema: "
                          r"(?P<schema>\{.*\})\s*$", re.MULTILINE)
_CHOICES_NOTE = re.compile(r"\{(?P<name>\w+)\}\s+# note: the value you produce must exactly match "
                           r"\(no extra characters\) one of: (?P<choices>.*)$", re.MULTILINE)


def _output_notes(system: str) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """The JSON schemas and Literal choices from the field notes (ChatAdapter or JSONAdapter layout)."""
    texts = [system]
    # JSONAdapter puts each note inside a JSON string value: decode the object to read them.
    begin = system.find("Outputs will be a JSON object with the following fields.")
    if begin >= 0:
        start = system.find("{", begin)
        end = system.find("\nIn adhering to this structure", start)
        try:
            texts = [str(v) for v in json.loads(system[start:end if end >= 0 else None].strip()).values()]
        except (json.JSONDecodeError, AttributeError):
            pass
    schemas: dict[str, dict[str, Any]] = {}
    choices: dict[str, list[str]] = {}
    for text in texts:
        for m in _SCHEMA_NOTE.finditer(text):
            try:
                schemas[m.group("name")] = json.loads(m.group("schema"))
            except json.JSONDecodeError:
                pass
        for m in _CHOICES_NOTE.finditer(text):
            choices[m.group("name")] = [c.strip() for c in m.group("choices").split(";")]
    return schemas, choices


def parse_request(messages: list[dict[str, str]]) -> ParsedCall:
    """Recover the signature, instructions and input values from adapter-formatted messages."""
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    inputs_decl = _fields_between(system, "Your input fields are:", "Your output fields are:")
    outputs_decl = _fields_between(system, "Your output fields are:", "All interactions will be structured")
    if not outputs_decl:
        return ParsedCall(instructions=system, inputs={"prompt": last_user}, input_fields=["prompt"],
                          output_fields={}, adapter="raw", messages=messages)
    instructions = ""
    at = system.find(_OBJECTIVE)
    if at >= 0:
        instructions = textwrap.dedent("\n" + system[at + len(_OBJECTIVE):].rstrip("\n")).strip()
        instructions = "\n".join(line.strip() for line in instructions.splitlines())
    adapter = "json" if "Outputs will be a JSON object" in system else "chat"
    sections = _sections(last_user, [name for name, _ in inputs_decl])
    inputs = {name: sections.get(name, "") for name, _ in inputs_decl}
    demos = sum(1 for m in messages[:-1] if m["role"] == "assistant")
    schemas, choices = _output_notes(system)
    return ParsedCall(instructions=instructions, inputs=inputs, input_fields=[n for n, _ in inputs_decl],
                      output_fields=dict(outputs_decl), adapter=adapter, messages=messages, demos=demos,
                      output_schemas=schemas, output_choices=choices)


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(_jsonable(value), default=str)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def format_outputs(call: ParsedCall, outputs: dict[str, Any]) -> str:
    """Render output values as the request's adapter expects (chat sections or a JSON object)."""
    if call.adapter == "raw":
        return _render_value(next(iter(outputs.values()), "")) if outputs else ""
    if call.adapter == "json":
        return json.dumps({k: _jsonable(v) for k, v in outputs.items()})
    parts = [f"[[ ## {name} ## ]]\n{_render_value(value)}" for name, value in outputs.items()]
    parts.append("[[ ## completed ## ]]")
    return "\n\n".join(parts)


def parse_json_input(text: str, default: Any = None) -> Any:
    """Decode a JSON-formatted input field value (DSPy renders lists and models as JSON)."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return default
