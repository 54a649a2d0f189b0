"""Turning validation failures into errors a person can act on, and checks pydantic cannot do.

pydantic reports ``loc=('prompt', 'optimizer', 'kind')``; we add the file, the line (from
the YAML's node marks), and what to do: the known keys for an unknown one, the expected
values for a wrong one. Checks that need the file system (does the dataset exist?) or the
whole config (does every search-space key name a real setting?) live here too.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from engram.runner._yaml_source import ConfigError, SourceMap

if TYPE_CHECKING:
    from engram.runner._config import ExperimentConfig


def _model_at(root: type[BaseModel], path: tuple) -> type[BaseModel] | None:
    """The pydantic model class that validates the mapping at ``path`` (None if not a model)."""
    current: Any = root
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> X, ``dict[str, X]`` / ``list[X]`` -> X (the model a nested key is checked by)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    if origin in (dict, list):
        return _unwrap(typing.get_args(annotation)[-1])
    return annotation


def _present_path(loc: tuple, data: Any) -> tuple:
    """The prefix of ``loc`` that exists in the YAML data (drops pydantic's union tags)."""
    path: list = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        else:
            break
        path.append(part)
    return tuple(path)


def format_pydantic_error(err: PydanticValidationError, source_map: SourceMap, data: Any) -> ConfigError:
    """The first validation problem as a :class:`ConfigError` with line and advice."""
    from engram.runner._config import ExperimentConfig

    first = err.errors()[0]
    loc = tuple(first["loc"])
    path = _present_path(loc, data)
    kind = first["type"]
    if kind == "extra_forbidden":
        model = _model_at(ExperimentConfig, path[:-1])
        known = ", ".join(model.model_fields) if model else "see the documentation"
        message = f"unknown key {path[-1]!r}; the keys allowed here are: {known}. Check the spelling."
    elif kind == "missing":
        missing = loc[len(path)]
        path = (*path, missing)
        message = f"required key {missing!r} is missing; add it"
    else:
        got = first.get("input")
        shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
        message = f"{first['msg']}{shown}; fix the value on that line"
    return source_map.error(path, message)


def _resolve_file(config: ExperimentConfig, path: tuple, value: Path, base_dir: Path | None) -> Path:
    tried = [Path.cwd() / value] if not value.is_absolute() else [value]
    if base_dir is not None and not value.is_absolute():
        tried.append(base_dir / value)
    for candidate in tried:
        if candidate.exists():
            return candidate.resolve()
    where = " or ".join(str(p) for p in tried)
    raise config.error(path, f"file not found: {value} (looked for {where}); fix the path or create the file")


def check_config(config: ExperimentConfig, data: dict[str, Any], base_dir: Path | None) -> None:
    """Cross-field and file-system checks; raises :class:`ConfigError` at the offending key."""
    needs_data = (config.memory.enabled or (config.prompt is not None and config.prompt.enabled)
                  or config.compile.enabled or config.sweep is not None)
    if not any([config.memory.enabled, config.prompt is not None and config.prompt.enabled,
                config.compile.enabled, config.retrieval.enabled]):
        raise config.error((), "nothing to run: enable at least one of memory, prompt, compile, retrieval")
    if needs_data and config.dataset is None:
        raise config.error(("dataset",), "this config runs steps on trajectories; add a 'dataset:' "
                                         "section with 'path:'")
    if config.dataset is not None:
        config.dataset.path = _resolve_file(config, ("dataset", "path"), config.dataset.path, base_dir)
    if config.prompt is not None and config.prompt.prompt.template_file is not None:
        key = ("prompt", "prompt", "template_file")
        resolved = _resolve_file(config, key, config.prompt.prompt.template_file, base_dir)
        config.prompt.prompt.template_file = resolved
        config.prompt.prompt.template = resolved.read_text(encoding="utf-8")
    if config.retrieval.enabled:
        if config.retrieval.path is None:
            raise config.error(("retrieval",), "retrieval is enabled; add 'path:' (the LoCoMo JSON file)")
        config.retrieval.path = _resolve_file(config, ("retrieval", "path"), config.retrieval.path, base_dir)
    if config.sweep is not None:
        _check_search_space(config, data)


def _check_search_space(config: ExperimentConfig, data: dict[str, Any]) -> None:
    """Every search-space key must name a setting that accepts the sampled values."""
    from engram.runner._config import ExperimentConfig
    from engram.runner._search_space import apply_overrides

    if config.prompt is None or not config.prompt.enabled:
        raise config.error(("sweep",), "a sweep optimizes the prompt step; add an enabled 'prompt:' section")
    for key, param in config.sweep.search_space.items():
        samples = param.choices if param.choices is not None else [param.low, param.high]
        for sample in samples:
            trial_data = apply_overrides(data, {key: sample})
            trial_data.pop("sweep", None)
            try:
                ExperimentConfig.model_validate(trial_data)
            except PydanticValidationError as err:
                reason = err.errors()[0]["msg"]
                raise config.error(("sweep", "search_space", key),
                                   f"search-space key {key!r} with value {sample!r} makes an invalid "
                                   f"config ({reason}); name an existing setting (dotted path) and "
                                   f"values it accepts") from None
