"""Export a prompt to JSON, YAML, plain text, OpenAI messages or a small Python module.

Every format carries the template exactly (variables in the author's style) so it can be
loaded back or used without engram::

    text = export_prompt(prompt, "yaml")
    export_prompt(prompt, "openai", values={"company": "Acme"})   # [{"role": "system", ...}]
    export_prompt(prompt, "python")        # a module with TEMPLATE and format(**values)

JSON (and YAML) exports are also valid fallback files for :func:`engram.load_prompt`.
Compiled DSPy programs are exported by :mod:`engram.tracking._program_export`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, get_args

from engram._files import atomic_write_text
from engram.errors import ValidationError
from engram.prompts import ChatTemplate, Prompt, render, template_text

ExportFormat = Literal["json", "yaml", "text", "openai", "python"]
FORMATS: tuple[str, ...] = get_args(ExportFormat)
_SUFFIXES: dict[str, ExportFormat] = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".txt": "text", ".py": "python"}


def to_openai_messages(template: str | ChatTemplate, values: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """OpenAI chat messages: a text template becomes one system message; variables filled if given."""
    filled = render(template, values) if values is not None else template
    if isinstance(filled, str):
        return [{"role": "system", "content": filled}]
    return [{"role": m["role"], "content": m["content"]} for m in filled]


def yaml_dump(data: Any) -> str:
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper, value: str):
        # Multi-line text as a literal block, so a prompt stays readable in the file.
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


_MODULE = '''"""Prompt {name!r} (version {version}), exported by engram. Needs only the standard library.

    from {module} import TEMPLATE, format
    format({example})
"""

import re

NAME = {name!r}
VERSION = {version!r}
TEMPLATE = {template!r}
VARIABLES = {variables!r}

_VARIABLE = re.compile(r"\\{{\\{{\\s*({pattern})\\s*\\}}\\}}|(?<!\\{{)\\{{({pattern})\\}}(?!\\}})")


def _fill(text, values):
    return _VARIABLE.sub(lambda m: str(values[m.group(1) or m.group(2)]), text)


def format(**values):
    """TEMPLATE with its variables filled (every variable in VARIABLES is required)."""
    missing = [v for v in VARIABLES if v not in values]
    if missing:
        raise KeyError("missing template variable(s): " + ", ".join(missing))
    if isinstance(TEMPLATE, str):
        return _fill(TEMPLATE, values)
    return [dict(message, content=_fill(message["content"], values)) for message in TEMPLATE]
'''
_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"


def to_python_module(prompt: Prompt, module: str = "prompt") -> str:
    """Source of a standalone module with NAME, VERSION, TEMPLATE, VARIABLES and ``format()``."""
    example = ", ".join(f"{v}=..." for v in prompt.variables)
    return _MODULE.format(name=prompt.name, version=prompt.version, template=prompt.template,
                          variables=prompt.variables, module=module, example=example,
                          pattern=_NAME_PATTERN)


def export_prompt(prompt: Prompt, fmt: ExportFormat = "json", *, values: dict[str, Any] | None = None) -> str | list:
    """The prompt in ``fmt``: a string, except ``"openai"`` which returns the message list.

    ``values`` fills the variables (``"openai"`` and ``"text"`` only).
    Example::

        export_prompt(Prompt(name="support", template="Hi {company}."), "text", values={"company": "Acme"})
    """
    if not isinstance(prompt, Prompt):
        raise ValidationError(f"export_prompt needs an engram Prompt, got {type(prompt).__name__}; load one with "
                              "engram.load_prompt('name@alias') or build Prompt(name=..., template=...).")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        # a file name where the format goes: export_prompt returns the text; write_export writes a file
        to_file = (f" To write a file, use engram.tracking.write_export(prompt, {fmt!r}) (the format comes from "
                   "the suffix)."
                   if isinstance(fmt, (str, Path)) and (Path(fmt).suffix or "/" in str(fmt)) else "")
        raise ValidationError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.{to_file}")
    if values is not None and not isinstance(values, dict):
        raise ValidationError(f"values must be a dict of variable -> value, got {type(values).__name__}.")
    if fmt == "json":
        return json.dumps(prompt.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml_dump(prompt.model_dump(mode="json"))
    if fmt == "text":
        return template_text(render(prompt.template, values) if values is not None else prompt.template)
    if fmt == "openai":
        return to_openai_messages(prompt.template, values)
    if fmt == "python":
        return to_python_module(prompt)
    raise ValidationError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")


def format_for_path(path: str | Path) -> ExportFormat:
    """The export format a file name implies (``.json``, ``.yaml``, ``.txt``, ``.py``); json otherwise."""
    return _SUFFIXES.get(Path(path).suffix.lower(), "json")


def write_export(prompt: Prompt, path: str | Path, fmt: ExportFormat | None = None) -> Path:
    """Write :func:`export_prompt` to ``path`` (format from the suffix unless given)."""
    if not isinstance(path, (str, Path)) or not str(path).strip():
        raise ValidationError(f"write_export needs a file path, got {path!r}.")
    path = Path(path)
    if path.is_dir():
        raise ValidationError(f"{path} is a directory; pass a file path such as {path / 'prompt.json'}.")
    fmt = format_for_path(path) if fmt is None else fmt
    out = export_prompt(prompt, fmt)
    text = out if isinstance(out, str) else json.dumps(out, indent=2, ensure_ascii=False) + "\n"
    try:
        atomic_write_text(path, text)  # all or nothing: a failed write leaves the old file
    except OSError as err:
        raise ValidationError(f"Cannot write {path}: {err.strerror or err}; choose a writable file path.") from None
    return path


def load_export(path: str | Path) -> Prompt:
    """A Prompt back from a JSON or YAML export."""
    if not isinstance(path, (str, Path)) or not str(path).strip():
        raise ValidationError(f"load_export needs a file path, got {path!r}.")
    path = Path(path)
    if path.is_dir():
        raise ValidationError(f"{path} is a directory; pass an export file made by `engram prompts export`.")
    try:
        raw = path.read_text()
        data = json.loads(raw) if path.suffix.lower() == ".json" else yaml_load(raw)
        return Prompt.model_validate(data)
    except RecursionError:
        raise ValidationError("Not a prompt export: nested too deeply to read.", source=str(path)) from None
    except (OSError, ValueError) as err:
        raise ValidationError(f"Not a prompt export: {err}", source=str(path)) from None


def yaml_load(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)
