"""Prompts and their template variables.

A :class:`Prompt` is a named template (a string, or a chat message list) with optional
guidance for optimizers. Templates use ``{var}`` (Python / LangMem style) or ``{{var}}``
(MLflow / mustache style); engram converts between the two without losing a variable::

    p = Prompt(name="support", template="You help {company} customers.")
    p.variables                      # ['company']
    to_mlflow_template(p.template)   # 'You help {{company}} customers.'
    check_variables(p.template, "You help customers.")   # raises TemplateError: lost 'company'
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from engram.errors import TemplateError
from engram.trajectories import EngramModel

_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"
_DOUBLE = re.compile(r"\{\{\s*(" + _NAME + r")\s*\}\}")
# A single-brace variable not part of a double-brace one.
_SINGLE = re.compile(r"(?<!\{)\{(" + _NAME + r")\}(?!\})")

#: What a prompt name may be: the prompt registry's rule (MLflow's), checked at construction so a
#: name that could never be registered fails here, not after an optimization has run.
PROMPT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$")
TemplateStyle = Literal["single", "double", "none"]
_LM_SETTINGS = ("provider", "model", "model_name", "temperature", "max_tokens", "top_p", "top_k",
                "frequency_penalty", "presence_penalty", "stop", "stop_sequences", "response_format")
ChatTemplate = list[dict[str, str]]


def _texts(template: str | ChatTemplate) -> list[str]:
    if isinstance(template, str):
        return [template]
    return [m.get("content", "") for m in template]


def double_brace_variables(template: str | ChatTemplate) -> list[str]:
    """Variables written ``{{var}}`` (MLflow's syntax), in order of first appearance.

    Example::

        double_brace_variables("Hi {{name}}, {city}")   # ['name']
    """
    return list(dict.fromkeys(m.group(1) for t in _texts(template) for m in _DOUBLE.finditer(t)))


def template_style(template: str | ChatTemplate) -> TemplateStyle:
    """``"double"`` if any ``{{var}}`` appears, else ``"single"`` if any ``{var}``, else ``"none"``."""
    texts = _texts(template)
    if any(_DOUBLE.search(t) for t in texts):
        return "double"
    if any(_SINGLE.search(t) for t in texts):
        return "single"
    return "none"


def find_variables(template: str | ChatTemplate) -> list[str]:
    """Variable names in order of first appearance, in either style."""
    seen: dict[str, None] = {}
    for text in _texts(template):
        for match in sorted([*_DOUBLE.finditer(text), *_SINGLE.finditer(text)], key=lambda m: m.start()):
            seen.setdefault(match.group(1), None)
    return list(seen)


def check_variables(original: str | ChatTemplate, candidate: str | ChatTemplate) -> None:
    """Raise :class:`TemplateError` if ``candidate`` drops or invents a variable of ``original``."""
    before, after = set(find_variables(original)), set(find_variables(candidate))
    missing, invented = sorted(before - after), sorted(after - before)
    if missing or invented:
        parts = []
        if missing:
            parts.append(f"drops {', '.join(repr(v) for v in missing)}")
        if invented:
            parts.append(f"invents {', '.join(repr(v) for v in invented)}")
        raise TemplateError(
            f"The new template {' and '.join(parts)}; a prompt must keep exactly the variables "
            f"{sorted(before) or '(none)'} so the code that fills it keeps working.",
        )


def _map_texts(template: str | ChatTemplate, fn) -> str | ChatTemplate:
    if isinstance(template, str):
        return fn(template)
    return [{**m, "content": fn(m.get("content", ""))} for m in template]


def to_mlflow_template(template: str | ChatTemplate) -> str | ChatTemplate:
    """``{var}`` -> ``{{var}}`` (double-brace templates are returned unchanged)."""
    if template_style(template) != "single":
        return template
    return _map_texts(template, lambda t: _SINGLE.sub(lambda m: "{{" + m.group(1) + "}}", t))


def from_mlflow_template(template: str | ChatTemplate, style: TemplateStyle = "single") -> str | ChatTemplate:
    """``{{var}}`` -> ``{var}`` when ``style`` is ``"single"``; otherwise unchanged."""
    if style != "single":
        return template
    return _map_texts(template, lambda t: _DOUBLE.sub(lambda m: "{" + m.group(1) + "}", t))


def render(template: str | ChatTemplate, values: dict[str, Any]) -> str | ChatTemplate:
    """Fill the variables (either style); a missing value raises :class:`TemplateError`."""
    missing = [v for v in find_variables(template) if v not in values]
    if missing:
        raise TemplateError(f"No value for template variable(s) {missing}; pass them to format().")

    def fill(text: str) -> str:
        text = _DOUBLE.sub(lambda m: str(values[m.group(1)]), text)
        return _SINGLE.sub(lambda m: str(values[m.group(1)]), text)

    return _map_texts(template, fill)


def template_text(template: str | ChatTemplate) -> str:
    """A chat template as ``role: content`` blocks; a string as is (for diffs and LMs)."""
    if isinstance(template, str):
        return template
    return "\n\n".join(f"[{m.get('role', 'system')}]\n{m.get('content', '')}" for m in template)


def diff_templates(old: str | ChatTemplate, new: str | ChatTemplate, *, old_label: str = "before",
                   new_label: str = "after") -> str:
    """A unified diff of two templates (empty string when they are equal)."""
    # Every line ends with a newline, so a last line without one does not fuse with the next.
    lines = difflib.unified_diff([line + "\n" for line in template_text(old).splitlines()],
                                 [line + "\n" for line in template_text(new).splitlines()],
                                 fromfile=old_label, tofile=new_label)
    return "".join(lines)


class Prompt(EngramModel):
    """A named prompt template and how optimizers may change it.

    Example::

        Prompt(name="support", template="You are {company}'s support agent.",
               update_instructions="Keep the tone friendly.",
               when_to_update="Feedback about answers to customers.",
               lm_config={"model_name": "gpt-4o-mini", "temperature": 0.2})
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    template: str | ChatTemplate
    update_instructions: str | None = None
    when_to_update: str | None = None
    version: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    # The model the prompt was written for, as MLflow 3 stores it with a prompt version:
    # provider, model_name, temperature, max_tokens, top_p, top_k, frequency_penalty,
    # presence_penalty, stop_sequences, extra_params; plus "response_format" (a JSON schema).
    lm_config: dict[str, Any] | None = None

    @field_validator("name", mode="before")  # before: a clearer word than pydantic's min_length
    @classmethod
    def _registrable_name(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("the prompt name is empty; pass a name like 'support'")
        if isinstance(value, str) and not PROMPT_NAME.fullmatch(value):
            raise ValueError(f"invalid prompt name {value!r}: start with a letter or digit and use only letters, "
                             "digits, '-', '_' and '.' (at most 255 characters), e.g. 'support-bot'")
        return value

    @field_validator("template", mode="before")  # before: one sentence instead of one per union branch
    @classmethod
    def _text_or_messages(cls, value: Any) -> Any:
        if not isinstance(value, (str, list)):
            raise ValueError(f"the template must be text or a list of chat messages such as "
                             f"[{{'role': 'system', 'content': '...'}}], got {type(value).__name__}")
        return value

    @field_validator("template")
    @classmethod
    def _not_empty(cls, value: str | ChatTemplate) -> str | ChatTemplate:
        if isinstance(value, str) and not value.strip():
            raise ValueError("the template is empty; a prompt needs some text")
        if isinstance(value, list):
            if not value:
                raise ValueError("a chat template needs at least one message")
            for message in value:
                if "role" not in message or "content" not in message:
                    raise ValueError("each chat template message needs 'role' and 'content'")
        return value

    @classmethod
    def _unknown_field_hint(cls, name: str) -> str | None:
        if name in _LM_SETTINGS:
            return f"an LM setting goes in lm_config, e.g. lm_config={{{name!r}: ...}}"
        return None

    @property
    def variables(self) -> list[str]:
        return find_variables(self.template)

    @property
    def style(self) -> TemplateStyle:
        return template_style(self.template)

    @property
    def text(self) -> str:
        """The template as text (chat templates as ``[role]`` blocks)."""
        return template_text(self.template)

    def format(self, **values: Any) -> str | ChatTemplate:
        """The template with its variables filled."""
        return render(self.template, values)

    def with_template(self, template: str | ChatTemplate, **changes: Any) -> Prompt:
        """A copy with a new template; raises :class:`TemplateError` if a variable was lost or invented."""
        check_variables(self.template, template)
        return self.model_copy(update={"template": template, **changes})

    @classmethod
    def coerce(cls, value: Any, *, name: str = "prompt") -> Prompt:
        """A Prompt from a Prompt, a template string, a message list or a dict of fields."""
        if isinstance(value, Prompt):
            return value
        if isinstance(value, (str, list)):
            return cls(name=name, template=value)
        if isinstance(value, dict):
            return cls.model_validate({"name": name} | value)
        raise TemplateError(f"Cannot make a Prompt from {type(value).__name__}; pass a string or a Prompt.")
