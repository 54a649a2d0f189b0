"""YAML loading that remembers where every key came from.

Experiment configs are hand-written, so an error has to point at the line to fix.
:func:`load_yaml` returns the plain data *and* a :class:`SourceMap` from key paths
(``("prompt", "optimizer", "kind")``) to 1-based line numbers, built from PyYAML's
node marks. It also expands ``${VAR}`` and ``${VAR:-default}`` (nestable) in string values, so a
shipped config can name the offline stand-in yet follow ``ENGRAM_LM`` when it is set::

    data, lines = load_yaml(Path("experiments/quickstart.yaml"))
    lines.line_of(("prompt", "optimizer", "kind"))    # 31
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engram.errors import ConfigurationError, ValidationError

# The default may not contain "$", "{" or "}": nested references expand innermost first.
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^${}]*))?\}")

# What is left of a reference with no closing brace once the well-formed ones are taken out.
_UNCLOSED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?(?=\$\{)")

KeyPath = tuple[str | int, ...]


class ConfigError(ValidationError, ConfigurationError):
    """An experiment config is invalid; the message names the file, line, key and the fix.

    It is both a :class:`engram.ValidationError` (it has ``source``, ``line``, ``field``)
    and a :class:`engram.ConfigurationError`.
    """


@dataclass
class SourceMap:
    """Line numbers (1-based) of the keys and items of a YAML document."""

    source: str
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor present in the file."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def error(self, path: KeyPath, message: str) -> ConfigError:
        """A :class:`ConfigError` for ``path`` (dotted in the message) at its line."""
        dotted = ".".join(str(p) for p in path) or None
        return ConfigError(message, source=self.source, line=self.line_of(path), field=dotted)


def _check_closed(value: str, path: KeyPath, source_map: SourceMap) -> None:
    rest = value
    for _ in range(8):  # take the well-formed references out, innermost first
        if not _ENV.search(rest):
            break
        rest = _ENV.sub("", rest)
    unclosed = _UNCLOSED.search(rest)
    if unclosed:
        start = unclosed.group(0)
        example = f", e.g. {value + '}'!r}" if value.endswith(start) and value.count("${") == 1 else ""
        raise source_map.error(
            path, f"the environment reference {start!r} in {value!r} has no closing '}}'; close it: "
                  f"${{NAME}} or ${{NAME:-default}}{example}")


def _expand_env(value: str, path: KeyPath, source_map: SourceMap) -> str:
    _check_closed(value, path, source_map)  # the file's text only: an environment value may hold "${"
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found:
            return found
        if default is not None:
            return default
        raise source_map.error(
            path, f"environment variable {name} is not set; set it, or write ${{{name}:-default}}")

    # ${A:-${B:-x}}: expand the inner reference, then the outer one, until none is left.
    for _ in range(8):  # bounded: an environment value may itself contain "${...}"
        if not _ENV.search(value):
            break
        value = _ENV.sub(replace, value)
    return value


def _walk(node: yaml.Node, path: KeyPath, source_map: SourceMap, ancestors: frozenset[int] = frozenset()) -> None:
    source_map.lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in ancestors:
        # An alias to a node that contains it (a: &x [*x]) would expand forever.
        raise ConfigError("a YAML alias refers to a node that contains it, so the value is infinite; "
                          "replace the alias (*name) with the value itself", source=source_map.source,
                          line=node.start_mark.line + 1, field=".".join(str(p) for p in path) or None)
    ancestors = ancestors | {id(node)}
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                # PyYAML would silently keep the last one; a duplicated key is always a mistake.
                raise ConfigError(f"key {key!r} appears twice (first on line {seen[key]}); keep one",
                                  source=source_map.source, line=line,
                                  field=".".join(str(p) for p in (*path, key)))
            seen[key] = line
            source_map.lines[(*path, key)] = line
            _walk(value_node, (*path, key), source_map, ancestors)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            source_map.lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), source_map, ancestors)


def _interpolate(data: Any, path: KeyPath, source_map: SourceMap) -> Any:
    if isinstance(data, str):
        return _expand_env(data, path, source_map)
    if isinstance(data, Mapping):
        return {k: _interpolate(v, (*path, k), source_map) for k, v in data.items()}
    if isinstance(data, list):
        return [_interpolate(v, (*path, i), source_map) for i, v in enumerate(data)]
    return data


def load_yaml_text(text: str, source: str = "<config>") -> tuple[Any, SourceMap]:
    """Parse YAML text into ``(data, source_map)``; syntax errors name the line."""
    source_map = SourceMap(source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            _walk(root, (), source_map)  # first: it refuses recursive aliases before they are built
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"not valid YAML: {err.problem or err}; fix the syntax",
                          source=source, line=line) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML: {err}", source=source) from None
    return _interpolate(data, (), source_map), source_map


def load_yaml(path: Path) -> tuple[Any, SourceMap]:
    """Read and parse a YAML file; a missing or unreadable file is a :class:`ConfigError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found; check the path", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the config file: {err}", source=str(path)) from None
    return load_yaml_text(text, source=str(path))
