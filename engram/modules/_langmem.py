"""LangMem's call shapes on engram's memory modules: ``.invoke`` / ``.ainvoke``, ``config``.

LangMem's objects are LangChain runnables: they take one ``input`` dict and a
``config={"configurable": {...}}`` whose values fill the namespace template. engram's
memory modules keep their own methods (``update``, ``__call__``) and also take these::

    manager.invoke({"messages": messages}, config={"configurable": {"user_id": "u1"}})   # [{"namespace", "key", "value"}]
    memories = create_memory_manager().invoke({"messages": messages})          # [(id, content), ...]
    create_memory_manager().invoke({"messages": messages, "existing": memories})

``langgraph_user_id`` (LangMem's default template key) and ``user_id`` (engram's) stand in
for each other when only one is given, so both namespace templates fill from either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from engram.errors import ValidationError

if TYPE_CHECKING:
    from engram.modules._results import UpdateResult

_ALIASES = (("user_id", "langgraph_user_id"), ("thread_id", "langgraph_thread_id"))
_INPUT_KEYS = {"messages", "existing", "max_steps"}


class RemoveDoc(BaseModel):
    """LangMem's marker for a deleted memory in an extraction result (``content`` of an
    :class:`~engram.modules.ExtractedMemory` whose memory the LM deleted)."""

    json_doc_id: str


def config_values(config: Mapping[str, Any] | None) -> dict[str, str]:
    """Namespace values from a LangChain ``config``: its ``configurable`` entries.

    >>> config_values({"configurable": {"langgraph_user_id": "u1"}})["user_id"]
    'u1'
    """
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise ValidationError(f"config must be a dict like {{'configurable': {{'user_id': ...}}}}, "
                              f"got {type(config).__name__}.")
    configurable = config.get("configurable") or {}
    if not isinstance(configurable, Mapping):
        raise ValidationError("config['configurable'] must be a dict of namespace values, "
                              f"got {type(configurable).__name__}.")
    values = {str(k): str(v) for k, v in configurable.items() if isinstance(v, (str, int)) and not isinstance(v, bool)}
    for ours, theirs in _ALIASES:
        if ours in values and theirs not in values:
            values[theirs] = values[ours]
        elif theirs in values and ours not in values:
            values[ours] = values[theirs]
    return values


def read_input(input: Any, *, what: str) -> dict[str, Any]:
    """LangMem's input dict (``{"messages": [...], ...}``); a bare message list is accepted too."""
    if isinstance(input, Mapping):
        if "messages" not in input:
            raise ValidationError(f"{what}.invoke() takes {{'messages': [...]}}; the input has keys {sorted(input)}.")
        unknown = set(input) - _INPUT_KEYS
        if unknown:
            raise ValidationError(f"{what}.invoke() does not read {sorted(unknown)}; it reads {sorted(_INPUT_KEYS)}.")
        return dict(input)
    if isinstance(input, (list, tuple)):
        return {"messages": list(input)}
    raise ValidationError(f"{what}.invoke() takes {{'messages': [...]}}, got {type(input).__name__}.")


def existing_memories(existing: Any) -> list[Any] | None:
    """LangMem's ``existing``, minus the RemoveDoc markers an earlier result carried."""
    if existing is None:
        return None
    if isinstance(existing, (str, BaseModel, dict)):
        return [existing]
    return [m for m in existing if not isinstance(getattr(m, "content", None), RemoveDoc)]


def as_puts(result: UpdateResult) -> list[dict[str, Any]]:
    """LangMem's store-manager result: one ``{"namespace", "key", "value"}`` per write."""
    return [{"namespace": record.namespace, "key": record.id,
             "value": {"kind": record.kind, "content": record.content}} for record in result.written]


class MemoryManagerRunnable:
    """``invoke`` / ``ainvoke`` for :class:`~engram.modules.MemoryManager` (LangMem's store manager).

    Returns LangMem's list of writes; :meth:`~engram.modules.MemoryManager.update` returns the
    full :class:`~engram.modules.UpdateResult` (ops, refusals, usage).
    """

    def invoke(self, input: Any, config: Mapping[str, Any] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        data = read_input(input, what="the memory store manager")
        _no_max_steps(data)
        return as_puts(self.update(data["messages"], config_values(config)))  # type: ignore[attr-defined]

    async def ainvoke(self, input: Any, config: Mapping[str, Any] | None = None,
                      **kwargs: Any) -> list[dict[str, Any]]:
        data = read_input(input, what="the memory store manager")
        _no_max_steps(data)
        return as_puts(await self.aupdate(data["messages"], config_values(config)))  # type: ignore[attr-defined]


class MemorySearcherRunnable:
    """``invoke`` / ``ainvoke`` for :class:`~engram.modules.MemorySearcher`: the memories found,
    best first (engram's :class:`~engram.store.MemoryRecord`; LangMem returned store items)."""

    def invoke(self, input: Any, config: Mapping[str, Any] | None = None, **kwargs: Any) -> list[Any]:
        data = read_input(input, what="the memory searcher")
        return self(conversation=data["messages"], values=config_values(config)).memories  # type: ignore[operator]

    async def ainvoke(self, input: Any, config: Mapping[str, Any] | None = None, **kwargs: Any) -> list[Any]:
        data = read_input(input, what="the memory searcher")
        pred = await self.acall(conversation=data["messages"], values=config_values(config))  # type: ignore[attr-defined]
        return pred.memories


def _no_max_steps(data: dict[str, Any]) -> None:
    if data.get("existing") is not None:
        raise ValidationError("the store manager reads existing memories from its store; pass 'existing' to "
                              "create_memory_manager(...).invoke instead.")
    if data.get("max_steps") is not None:
        raise ValidationError("max_steps is set when the manager is made (MemoryManager(..., max_steps=n)), "
                              "not per call.")


__all__ = ["MemoryManagerRunnable", "MemorySearcherRunnable", "RemoveDoc", "as_puts", "config_values", "existing_memories", "read_input"]
