"""Turning validation failures into errors a person can act on, and checks pydantic cannot do.

pydantic reports ``loc=('prompt', 'optimizer', 'kind')``; we add the file, the line (from
the YAML's node marks), and what to do: the known keys for an unknown one, the expected
values for a wrong one. Checks that need the file system (does the dataset exist?) or the
whole config (does every search-space key name a real setting?) live here too.
"""

from __future__ import annotations

import difflib

import re
import string
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from engram.runner._yaml_source import ConfigError, SourceMap

if TYPE_CHECKING:
    from engram.optimizers import OptimizerKind

# This module is imported by the config models, so it sees a config only as a validated
# model (``config: Any`` below is an ExperimentConfig) and is handed the model class.

# The values the memory step fills a namespace template from (MemoryManager's trajectory values).
TRAJECTORY_FIELDS = ("user_id", "user", "thread_id", "thread")


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


def _close_key(problem: Any, data: Any, root: type[BaseModel]) -> str | None:
    """For an unknown key, the allowed key it is probably a misspelling of (None otherwise)."""
    if problem["type"] != "extra_forbidden":
        return None
    path = _present_path(tuple(problem["loc"]), data)
    model = _model_at(root, path[:-1]) if path else None
    close = difflib.get_close_matches(str(path[-1]), list(model.model_fields), n=1, cutoff=0.7) if model else []
    return close[0] if close else None


def format_pydantic_error(err: PydanticValidationError, source_map: SourceMap, data: Any,
                          root: type[BaseModel]) -> ConfigError:
    """The first validation problem (of a ``root`` model) as a :class:`ConfigError` with line and advice."""
    problems = err.errors()
    # a misspelled key first when it is why pydantic also finds a required key "missing"
    absent: set[tuple[Any, ...]] = set()
    for problem in problems:
        if problem["type"] == "missing":
            parent = _present_path(tuple(problem["loc"]), data)
            if len(problem["loc"]) > len(parent):
                absent.add((*parent, str(problem["loc"][len(parent)])))
    first = next((p for p in problems if (close := _close_key(p, data, root))
                  and (*_present_path(tuple(p["loc"]), data)[:-1], close) in absent), problems[0])
    loc = tuple(first["loc"])
    path = _present_path(loc, data)
    kind = first["type"]
    if kind == "extra_forbidden":
        model = _model_at(root, path[:-1])
        known = ", ".join(model.model_fields) if model else "see the documentation"
        close = _close_key(first, data, root)
        guess = f" (did you mean {close!r}?)" if close else ""
        message = f"unknown key {path[-1]!r}{guess}; the keys allowed here are: {known}. Check the spelling."
    elif kind == "missing":
        missing = loc[len(path)]
        path = (*path, missing)
        message = f"required key {missing!r} is missing; add it"
    else:
        got = first.get("input")
        shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
        message = f"{first['msg']}{shown}; fix the value on that line"
    return source_map.error(path, message)


def _resolve_file(config: Any, path: tuple, value: Path, base_dir: Path | None) -> Path:
    tried = [Path.cwd() / value] if not value.is_absolute() else [value]
    if base_dir is not None and not value.is_absolute():
        tried.append(base_dir / value)
    for candidate in tried:
        if candidate.exists():
            return candidate.resolve()
    where = " or ".join(dict.fromkeys(str(p) for p in tried))  # one path when the config sits in the cwd
    raise config.error(path, f"file not found: {value} (looked for {where}); fix the path or create the file")


def check_config(config: Any, data: dict[str, Any], base_dir: Path | None) -> None:
    """Cross-field and file-system checks; raises :class:`ConfigError` at the offending key."""
    needs_data = (config.memory.enabled or (config.prompt is not None and config.prompt.enabled)
                  or config.compile.enabled or config.sweep is not None)
    if not any([config.memory.enabled, config.prompt is not None and config.prompt.enabled,
                config.compile.enabled, config.retrieval.enabled]):
        raise config.error((), "nothing to run: enable at least one of memory, prompt, compile, retrieval")
    if needs_data:
        config.required_dataset()
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
    if config.memory.enabled:
        check_namespace(config)
    if config.prompt is not None and config.prompt.enabled:
        check_registry_names(config)
        check_optimizer_settings(config, config.prompt.optimizer.kind, config.prompt.optimizer.settings)
    if config.sweep is not None:
        _check_search_space(config, data)


def check_namespace(config: Any) -> None:
    """A namespace template must parse, keep one field per part, and name fields the runner fills.

    ``"{user_id"`` would otherwise send every user to one literal namespace, and
    ``"{org}{user}"`` (or ``"{org}-{user}"``) lets two different value pairs make the same
    part; separate parts cannot collide, so they are what to write instead.
    """
    fields_known = set(TRAJECTORY_FIELDS)
    unknown: list[tuple[int, str]] = []
    for index, part in enumerate(config.memory.namespace):
        key = ("memory", "namespace", index)
        if not part.strip():
            raise config.error(key, "a namespace part is empty; remove it or give it a name")
        try:
            parsed = list(string.Formatter().parse(part))
        except ValueError as err:
            raise config.error(key, f"namespace part {part!r} is not a valid template ({err}); "
                                    f"write fields as {{user_id}} with both braces") from None
        fields = [name for _, name, spec, conv in parsed if name is not None]
        bad = [name for _, name, spec, conv in parsed if name is not None and (
            not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or spec or conv)]
        if bad:
            raise config.error(key, f"namespace part {part!r} has the field {{{bad[0]}}}, which is not a plain "
                                    f"name; write fields as {{user_id}}")
        if len(fields) > 1:
            raise config.error(key, f"namespace part {part!r} joins {len(fields)} fields, so different values "
                                    f"can make the same namespace (u1 + 0 = u + 10); put each field in its "
                                    f"own part, e.g. [\"memories\", \"{{{fields[0]}}}\", \"{{{fields[1]}}}\"]")
        unknown += [(index, name) for name in fields if name not in fields_known]
    if unknown and config.dataset is not None:
        fields_known |= _metadata_fields(config.dataset.path)
        unknown = [(index, name) for index, name in unknown if name not in fields_known]
    if unknown:
        index, name = unknown[0]
        raise config.error(("memory", "namespace", index),
                           f"namespace field {{{name}}} is not filled by the runner: it fills "
                           f"{', '.join(TRAJECTORY_FIELDS)} and the string metadata keys of the "
                           f"trajectories; use one of those")


def _metadata_fields(path: Path) -> set[str]:
    """The string metadata keys that occur in a dataset (what else a namespace may name)."""
    from engram.trajectories import TrajectoryDataset

    try:
        data = TrajectoryDataset.load(path)
    except Exception:  # noqa: BLE001  (its own errors are reported when the run loads it)
        return set()
    return {k for t in data for k, v in (t.metadata or {}).items() if isinstance(v, str)}


def check_registry_names(config: Any) -> None:
    """The prompt name and the registry alias must be ones the registry accepts.

    They are used only by the registry step, the last but one, so a name like
    ``"my support prompt"`` would otherwise fail after all the LM work. Without that step
    (``prompt.registry.enabled`` or ``tracking.enabled`` false) nothing is checked.
    """
    from engram.errors import ValidationError
    from engram.tracking import check_alias, check_name

    if not (config.prompt.registry.enabled and config.tracking.enabled):
        return
    try:
        check_name(config.prompt.prompt.name)
    except ValidationError as err:
        raise config.error(("prompt", "prompt", "name"), str(err).rstrip(".")) from None
    alias = config.prompt.registry.alias
    if alias is not None:
        try:
            check_alias(alias)
        except ValidationError as err:
            raise config.error(("prompt", "registry", "alias"),
                               f"{str(err).rstrip('.')}; or write 'alias: null' to set none") from None


def check_optimizer_settings(config: Any, kind: OptimizerKind, settings: dict[str, Any]) -> None:
    """``prompt.optimizer.settings`` must be arguments the optimizer takes, with values it accepts."""
    if not settings:
        return
    from engram.errors import EngramError
    from engram.optimizers import create_prompt_optimizer

    try:
        create_prompt_optimizer(None, kind=kind, config=settings)  # builds it; no LM call
    except EngramError as err:
        cause = str(err.__cause__ or err)
        # the optimizer's own message names the unknown key and, when one is close, its guess
        named = re.search(r"(?:keyword argument|unknown key\(s\)) '(\w+)'(?: \(did you mean '(\w+)'\?\))?", cause)
        key: tuple[str, ...] = ("prompt", "optimizer", "settings")
        if named and named.group(1) in settings:
            key = (*key, named.group(1))
            guess = f" (did you mean {named.group(2)!r}?)" if named.group(2) else ""
            raise config.error(key, f"the {kind} optimizer has no setting {named.group(1)!r}{guess}; check the "
                                    f"spelling (its arguments: {_arguments(kind)})") from None
        raise config.error(key, f"invalid setting for the {kind} optimizer: {cause}") from None


def _arguments(kind: OptimizerKind) -> str:
    import inspect

    from engram.optimizers import create_prompt_optimizer

    optimizer = create_prompt_optimizer(None, kind=kind)
    names = []
    for cls in type(optimizer).__mro__:
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        names += [p.name for p in inspect.signature(init).parameters.values()
                  if p.kind is p.KEYWORD_ONLY and p.name not in names and p.name != "gate"]
    return ", ".join(names)


def _check_search_space(config: Any, data: dict[str, Any]) -> None:
    """Every search-space key must name a setting that accepts the sampled values."""
    from engram.runner._search_space import apply_overrides

    model = type(config)

    if config.prompt is None or not config.prompt.enabled:
        raise config.error(("sweep",), "a sweep optimizes the prompt step; add an enabled 'prompt:' section")
    for key, param in config.sweep.search_space.items():
        samples = param.choices if param.choices is not None else [param.low, param.high]
        for sample in samples:
            trial_data = apply_overrides(data, {key: sample})
            trial_data.pop("sweep", None)
            try:
                model.model_validate(trial_data)
            except PydanticValidationError as err:
                reason = err.errors()[0]["msg"]
                raise config.error(("sweep", "search_space", key),
                                   f"search-space key {key!r} with value {sample!r} makes an invalid "
                                   f"config ({reason}); name an existing setting (dotted path) and "
                                   f"values it accepts") from None
