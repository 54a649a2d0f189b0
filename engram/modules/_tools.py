"""Memory tools for agents in the hot path: ``manage_memory`` and ``search_memory``.

Both are :class:`dspy.Tool` objects, usable in ``dspy.ReAct`` (or any tool loop), scoped
to one namespace, and both give their OpenAI function schema, valid in strict mode::

    store = MemoryStore.in_memory()
    manage = create_manage_memory_tool(store, ("memories", "{user_id}"), values={"user_id": "u1"})
    search = create_search_memory_tool(store, ("memories", "{user_id}"), values={"user_id": "u1"})
    agent = dspy.ReAct("request -> response", tools=[manage, search])
    manage.openai_schema()     # {"type": "function", "function": {..., "strict": True}}

``values`` fills the namespace template: a dict, or a function called on every use (for
example one that reads the current user from your request context). A namespace without
fields, such as ``("memories", "team")``, is used as it is.

Both factories take LangMem's argument order too: ``create_search_memory_tool(("memories",
"team"), store=store)`` (namespace first, store by name) is the same tool as
``create_search_memory_tool(store, ("memories", "team"))``. An ambiguous call (two
namespaces, a store given twice) is refused with an error naming both forms.

``search_memory`` takes ``query``, ``limit``, ``offset`` and a typed ``filter`` (a list of
``{"field", "op", "value"}`` conditions; strict function schemas forbid open dicts)::

    search = create_search_memory_tool(("memories", "team"), store=MemoryStore.in_memory())
    search(query="diet", filter=[{"field": "topic", "op": "eq", "value": "food"}], offset=5)   # []

Calls are checked before anything runs: an unknown, missing, positional or wrongly
typed argument is an :class:`engram.ValidationError` naming the argument and listing
what the tool takes (ReAct shows it to the agent as the observation), and nothing is
written.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import dspy
from pydantic import BaseModel

from engram.errors import NamespaceError, NotFoundError, ValidationError
from engram.modules._schemas import Memory, content_text, validate_content
from engram.modules._strict import to_strict

ACTIONS = ("create", "update", "delete")
MAX_RESULTS = 50
MAX_OFFSET = 1000
DEFAULT_NAMESPACE = ("memories", "{user_id}")
RESPONSE_FORMATS = ("content", "content_and_artifact")
Values = dict[str, Any] | Callable[[], dict[str, Any]] | None


class MemoryTool(dspy.Tool):
    """A ``dspy.Tool`` that checks its arguments and can describe itself as an OpenAI (strict) function."""

    def openai_schema(self, strict: bool = True) -> dict[str, Any]:
        return openai_function_schema(self, strict=strict)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return super().__call__(**self.check_arguments(args, kwargs))

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        return await super().acall(**self.check_arguments(args, kwargs))

    def check_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """``kwargs`` if they fit the tool's schema; else a ValidationError naming the argument."""
        from jsonschema import ValidationError as SchemaError
        from jsonschema import validate

        takes = ", ".join(f"{k}{'' if 'default' in v else ' (required)'}" for k, v in self.args.items())
        if args:
            raise ValidationError(f"{self.name} takes named arguments only ({takes}); got {len(args)} "
                                  f"positional value(s): call it as {self.name}(name=value, ...).")
        unknown = sorted(set(kwargs) - set(self.args))
        if unknown:
            raise ValidationError(f"{self.name} got unknown argument(s) {unknown}; it takes: {takes}.")
        missing = [k for k, v in self.args.items() if "default" not in v and k not in kwargs]
        if missing:
            raise ValidationError(f"{self.name} is missing required argument(s) {missing}; it takes: {takes}.")
        for key, value in kwargs.items():
            schema = {k: v for k, v in self.args[key].items() if k != "default"}
            if "type" not in schema:  # structured content: the schema model validates it, merged on updates
                continue
            try:
                validate(instance=value.model_dump() if isinstance(value, BaseModel) else value, schema=schema)
            except SchemaError as err:
                # what the argument takes (its description holds an example) helps a model retry
                described = self.args[key].get("description")
                said = f"{key!r}: {described}" if described else f"It takes: {takes}."
                raise ValidationError(f"{self.name}: argument {key!r} is invalid: {err.message}. {said}") from None
        return kwargs


def openai_function_schema(tool: dspy.Tool, *, strict: bool = True) -> dict[str, Any]:
    """The OpenAI ``tools`` entry for a ``dspy.Tool``; ``strict=True`` makes it strict-mode valid."""
    required = [k for k, v in tool.args.items() if "default" not in v]
    parameters = {"type": "object", "properties": dict(tool.args), "required": required}
    function: dict[str, Any] = {"name": tool.name, "description": tool.desc or ""}
    if strict:
        function["parameters"] = to_strict(parameters)
        function["strict"] = True
    else:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


_UNSET: Any = object()


def _template(namespace: Any) -> Any:
    from engram.store import NamespaceTemplate

    return namespace if isinstance(namespace, NamespaceTemplate) else NamespaceTemplate(namespace)


def _namespace(template: Any, values: Values) -> tuple[str, ...]:
    given = (values() if callable(values) else values) or {}
    missing = [name for name in template.fields if name not in given]
    if missing and values is None:  # a tool takes no config= at call time: the values come with the tool
        raise NamespaceError(
            f"this memory tool's namespace {template.template!r} needs {missing}, and the tool was created "
            f"without them; create it with values={{{', '.join(f'{m!r}: ...' for m in missing)}}} (or a "
            "function returning them, e.g. one reading the current user from your request context); in a "
            "LangGraph agent, the tools of engram.integrations.langchain read config['configurable'].")
    return template.fill(given)


def _is_store(value: Any) -> bool:
    return callable(getattr(value, "search", None)) and callable(getattr(value, "put", None))


def _is_namespace(value: Any) -> bool:
    from engram.store import NamespaceTemplate

    return isinstance(value, (tuple, list, str, NamespaceTemplate))


def _store_and_namespace(factory: str, first: Any, second: Any, store: Any, namespace: Any) -> tuple[Any, Any]:
    """Both argument orders: engram's ``(store, namespace)`` and LangMem's ``(namespace, *, store)``."""
    usage = (f"call it as {factory}(namespace, store=store) (LangMem's order) or "
             f"{factory}(store, namespace) (engram's)")
    positional = [a for a in (first, second) if a is not _UNSET]
    pos_store, pos_ns = _UNSET, _UNSET
    if len(positional) == 2:
        a, b = positional
        if a is None or _is_store(a):
            pos_store, pos_ns = a, b
        elif _is_namespace(a) and _is_store(b):
            pos_ns, pos_store = a, b
        else:
            raise ValidationError(f"{factory}() cannot tell the store from the namespace in {a!r}, {b!r}; {usage}.")
    elif positional:
        (a,) = positional
        if a is None or _is_store(a):
            pos_store = a
        elif _is_namespace(a):
            pos_ns = a
        else:
            raise ValidationError(f"{factory}() needs a MemoryStore (or None for the configured one), got "
                                  f"{type(a).__name__}; {usage}.")
    if pos_store is not _UNSET and store is not _UNSET:
        raise ValidationError(f"{factory}() got the store twice (positionally and as store=); {usage}.")
    if pos_ns is not _UNSET and namespace is not _UNSET:
        raise ValidationError(f"{factory}() got the namespace twice ({pos_ns!r} and namespace={namespace!r}); "
                              f"{usage}.")
    store = pos_store if pos_store is not _UNSET else (None if store is _UNSET else store)
    namespace = pos_ns if pos_ns is not _UNSET else (DEFAULT_NAMESPACE if namespace is _UNSET else namespace)
    if store is not None and not _is_store(store):
        hint = (" (that looks like a namespace: pass it first, or as namespace=)" if _is_namespace(store) else "")
        raise ValidationError(f"{factory}() needs a MemoryStore (or None for the configured one) as the store, "
                              f"got {type(store).__name__}{hint}.")
    if not _is_namespace(namespace):
        raise ValidationError(f"{factory}() needs a namespace such as ('memories', '{{user_id}}'), "
                              f"got {type(namespace).__name__}.")
    return store, _template(namespace)


def _store(store: Any) -> Any:
    if store is None:
        from engram.store import MemoryStore

        return MemoryStore.from_settings()
    return store


def _content_schema(schema: type[BaseModel | str]) -> tuple[type[BaseModel], dict[str, Any], Any]:
    """(model, JSON schema of the ``content`` argument, its Python type)."""
    if schema is str or schema is Memory:
        return Memory, {"type": ["string", "null"], "description": "The memory, in plain words."}, str
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise ValidationError(f"schema must be str or a pydantic model, got {schema!r}")
    return schema, {"anyOf": [to_strict(schema.model_json_schema()), {"type": "null"}]}, dict


def create_manage_memory_tool(first: Any = _UNSET, second: Any = _UNSET, /, *, store: Any = _UNSET,
                              namespace: Any = _UNSET, schema: type[BaseModel | str] = str,
                              actions_permitted: Sequence[str] = ACTIONS, values: Values = None,
                              instructions: str = "", name: str = "manage_memory",
                              trajectory_id: str | None = None) -> MemoryTool:
    """A tool that creates, updates or deletes memories in one namespace.

    ``actions_permitted`` limits what the agent may do (e.g. ``("create",)``); ``schema``
    is ``str`` (plain memories, kind ``Memory``) or a pydantic model. Errors are raised as
    :class:`engram.ValidationError` / :class:`engram.NotFoundError` with a message for the
    agent (ReAct shows it as the observation). Call it as ``(store, namespace)`` or, as in
    LangMem, ``(namespace, store=store)``; the namespace defaults to ``("memories", "{user_id}")``::

        manage = create_manage_memory_tool(("memories", "team"), store=store)
        manage(action="create", content="Standup is at 9:30")      # written to ('memories', 'team')
    """
    store, namespace = _store_and_namespace("create_manage_memory_tool", first, second, store, namespace)
    permitted = tuple(actions_permitted)
    if not permitted or set(permitted) - set(ACTIONS):
        raise ValidationError(f"actions_permitted must be a non-empty subset of {ACTIONS}, got {permitted}")
    model, content_schema, content_type = _content_schema(schema)
    kind = model.__name__

    def manage_memory(action: str = permitted[0], content: Any = None, id: str | None = None) -> str:
        if action not in permitted:
            raise ValidationError(f"action {action!r} is not permitted; use one of {list(permitted)}.")
        st, ns = _store(store), _namespace(namespace, values)
        provenance = [{"trajectory_id": trajectory_id, "quote": None}] if trajectory_id else []
        if action == "create":
            if content is None:
                raise ValidationError("create needs content=<the memory>.")
            value = validate_content(model, content)
            key = uuid.uuid4().hex[:12]
            st.put(ns, key, value.model_dump(mode="json", exclude_none=True), kind=kind,
                   text=content_text(value), provenance=provenance, expected_version=0)
            return f"created memory {key}"
        if not isinstance(id, str) or not id.strip():
            raise ValidationError(f"{action} needs id=<the id of a memory> (search_memory shows ids), got {id!r}.")
        current = st.get(ns, id)
        if current is None or current.kind != kind:
            raise NotFoundError(f"no memory {id!r} here; search_memory shows the ids you can use.")
        if action == "delete":
            st.delete(ns, id)
            return f"deleted memory {id}"
        if content is None:
            raise ValidationError("update needs content=<the new memory>.")
        value = validate_content(model, content, base=current.content if isinstance(current.content, dict) else None)
        st.put(ns, id, value.model_dump(mode="json", exclude_none=True), kind=kind, text=content_text(value),
               metadata=current.metadata, provenance=[*(p.model_dump() for p in current.provenance), *provenance],
               expected_version=current.version)
        return f"updated memory {id}"

    desc = ("Create, update or delete a long-term memory. Save facts, preferences and context the user "
            "shares that will help later; update or delete memories that are wrong or outdated. "
            f"Permitted actions: {', '.join(permitted)}." + (f" {instructions}" if instructions else ""))
    args = {
        "action": {"type": "string", "enum": list(permitted), "default": permitted[0],
                   "description": "What to do."},
        "content": {**content_schema, "default": None,
                    "description": "The memory (create / update)."},
        "id": {"type": ["string", "null"], "default": None, "description": "The memory's id (update / delete)."},
    }
    arg_types = {"action": str, "content": content_type | None, "id": str | None}
    return MemoryTool(manage_memory, name=name, desc=desc, args=args, arg_types=arg_types)


def create_search_memory_tool(first: Any = _UNSET, second: Any = _UNSET, /, *, store: Any = _UNSET,
                              namespace: Any = _UNSET, schema: type[BaseModel | str] = str,
                              values: Values = None, default_limit: int = 5, name: str = "search_memory",
                              response_format: str = "content", min_score: float | None = None,
                              ranking: Any = None) -> MemoryTool:
    """A tool that searches one namespace by meaning; returns ``[{"id", "memory", "score"}]``.

    The agent may pass ``limit``, ``offset`` and a ``filter`` (a list of ``{"field", "op",
    "value"}`` conditions on metadata, all of which must hold). ``min_score`` and ``ranking``
    are passed to :meth:`MemoryStore.search`. ``response_format="content_and_artifact"``
    returns ``(json_text, records)`` as LangMem does: the text for the model, the
    :class:`MemoryRecord` list for your code. Argument order as in
    :func:`create_manage_memory_tool`::

        search = create_search_memory_tool(("memories", "team"), store=store)
        search(query="standup time", filter=[{"field": "topic", "op": "eq", "value": "meetings"}])
    """
    from engram.store import FILTER_ITEMS_SCHEMA, filter_from_items

    store, namespace = _store_and_namespace("create_search_memory_tool", first, second, store, namespace)
    if isinstance(default_limit, bool) or not isinstance(default_limit, int) or not 1 <= default_limit <= MAX_RESULTS:
        raise ValidationError(f"default_limit must be an integer from 1 to {MAX_RESULTS}, got {default_limit!r}.")
    if response_format not in RESPONSE_FORMATS:
        raise ValidationError(f"response_format must be one of {list(RESPONSE_FORMATS)}, got {response_format!r}.")
    model, _, _ = _content_schema(schema)
    kind = model.__name__

    def search_memory(query: str, limit: int | None = default_limit, offset: int | None = 0,
                      filter: list[dict[str, Any]] | None = None) -> Any:
        if limit is None:
            limit = default_limit
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS:
            raise ValidationError(f"limit must be an integer from 1 to {MAX_RESULTS}, got {limit!r}.")
        offset = 0 if offset is None else offset
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
            raise ValidationError(f"offset must be an integer from 0 to {MAX_OFFSET}, got {offset!r}.")
        if not isinstance(query, str) or not query.strip():
            raise ValidationError(f"query must be a non-empty string saying what to look for, got {query!r}.")
        where = filter_from_items(filter)
        st, ns = _store(store), _namespace(namespace, values)
        found = st.search(ns, query, kind=kind, limit=limit, offset=offset, filter=where,
                          min_score=min_score, ranking=ranking)
        results = [{"id": r.id, "memory": r.text if model is Memory else r.content,
                    "score": round(r.score, 3) if r.score is not None else None} for r in found]
        if response_format == "content_and_artifact":
            return json.dumps(results, ensure_ascii=False, default=str), found
        return results

    desc = ("Search long-term memories by meaning. Use it to recall the user's facts and preferences. "
            "Page with offset; narrow with filter conditions on metadata.")
    args = {"query": {"type": "string", "description": "What to look for."},
            "limit": {"type": ["integer", "null"], "default": default_limit, "minimum": 1, "maximum": MAX_RESULTS,
                      "description": f"At most this many results (1-{MAX_RESULTS})."},
            "offset": {"type": ["integer", "null"], "default": 0, "minimum": 0, "maximum": MAX_OFFSET,
                       "description": "Skip this many results first (for the next page)."},
            "filter": {**FILTER_ITEMS_SCHEMA, "default": None}}
    return MemoryTool(search_memory, name=name, desc=desc, args=args,
                      arg_types={"query": str, "limit": int | None, "offset": int | None,
                                 "filter": list[dict[str, Any]] | None})


__all__ = ["MemoryTool", "create_manage_memory_tool", "create_search_memory_tool", "openai_function_schema"]
