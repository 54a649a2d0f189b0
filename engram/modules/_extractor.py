"""MemoryExtractor: a conversation and existing memories in, memory operations out.

Stateless (nothing is stored; see :class:`~engram.modules._manager.MemoryManager` for
that). In the default configuration it makes ONE LM call: existing memories are shown
under short ids with their content only, the answer is compact JSON Lines.

    extractor = MemoryExtractor()
    pred = extractor(conversation=[{"role": "user", "content": "I moved to Lisbon"}],
                     memories=[("m-17", "Lives in Porto")])
    pred.ops         # [MemoryOp(action='update', id='m-17', content=Memory(content='Lives in Lisbon'), ...)]
    pred.memories    # the new and updated memories
    pred.rejected    # refused operations and why (never applied)

An operation that names an id that was not shown, or whose content does not fit its
schema, or that lacks a quote, is refused; the refusals are sent back once in a single
corrective call, and whatever is still wrong is dropped and reported in ``rejected``. If the
corrective call itself fails, the extraction fails (:class:`~engram.errors.LMError`), so a
caller never takes a partial answer for a whole one.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Generator, Iterable
from typing import Any

import dspy
from pydantic import BaseModel

from engram.errors import EngramError, LMError, ValidationError
from engram.modules._conversation import Conversation, ConversationInput, prepare
from engram.modules._langmem import RemoveDoc, existing_memories, read_input
from engram.modules._lm import lm_scope
from engram.modules._operations import (
    Action,
    Entry,
    ExtractedMemory,
    MemoryOp,
    RejectedOp,
    ShortIds,
    parse_op_lines,
)
from engram.modules._schemas import (
    check_schemas,
    content_text,
    find_schema,
    schema_hint,
    validate_content,
)
from engram.modules._signatures import extraction_signature

Call = tuple[dspy.Predict, dict[str, Any]]
# records, (id, content) or (id, kind, content) tuples, {"id", "kind", "content"} dicts, models or strings
MemoriesInput = Iterable[object] | str | BaseModel | dict[str, Any] | None


class MemoryExtractor(dspy.Module):
    """Extract, update and delete memories from a conversation (see the module docstring).

    Args:
        schemas: pydantic models (kinds) a memory may take; default ``[Memory]`` (plain text).
        instructions: extra rules for the LM (what to remember, what to ignore).
        enable_inserts / enable_updates / enable_deletes: which operations are allowed.
        max_steps: extraction passes; a pass that changes nothing stops early.
        max_conversation_tokens / truncate: the conversation's budget; see
            :mod:`engram.modules._conversation` for the documented truncation.
        id_factory: makes ids for new memories (default: UUID4 strings).
    """

    def __init__(self, schemas: Iterable[type[BaseModel]] | type[BaseModel] | None = None, *,
                 instructions: str = "", enable_inserts: bool = True, enable_updates: bool = True,
                 enable_deletes: bool = True, max_steps: int = 1, max_conversation_tokens: int | None = 8000,
                 truncate: bool = True, id_factory: Callable[[], str] | None = None):
        super().__init__()
        if max_steps < 1:
            raise ValidationError(f"max_steps must be at least 1, got {max_steps}")
        if not (enable_inserts or enable_updates or enable_deletes):
            raise ValidationError("all operations are disabled; enable at least one of inserts, updates, deletes.")
        self.schemas = check_schemas(schemas)
        self.enable_inserts, self.enable_updates, self.enable_deletes = enable_inserts, enable_updates, enable_deletes
        self.max_steps = max_steps
        self.max_conversation_tokens = max_conversation_tokens
        self.truncate = truncate
        self.id_factory = id_factory or (lambda: str(uuid.uuid4()))
        rules = self._rules(instructions)
        self.extract = dspy.Predict(extraction_signature(rules))
        self.fix = dspy.Predict(extraction_signature(rules, fix=True))

    def _rules(self, instructions: str) -> str:
        parts = []
        allowed = [name for name, on in (("insert", self.enable_inserts), ("update", self.enable_updates),
                                         ("delete", self.enable_deletes)) if on]
        if len(allowed) < 3:
            parts.append(f"Allowed ops: {', '.join(allowed)}.")
        hint = schema_hint(self.schemas)
        if hint:
            parts.append(hint)
        if instructions:
            parts.append(instructions.strip())
        return "\n".join(parts)

    # -- public entry points ------------------------------------------------------------------
    def forward(self, conversation: ConversationInput, memories: MemoriesInput = None, *, trajectory_id: str | None = None) -> dspy.Prediction:
        run = self._run(conversation, memories, trajectory_id)
        step, arg = run.send, None
        while True:
            try:
                predictor, kwargs = step(arg)
            except StopIteration as done:
                return done.value
            try:
                step, arg = run.send, _call(predictor, kwargs)
            except LMError as err:  # hand the failure to the algorithm, which decides
                step, arg = run.throw, err

    async def aforward(self, conversation: ConversationInput, memories: MemoriesInput = None, *,
                       trajectory_id: str | None = None) -> dspy.Prediction:
        run = self._run(conversation, memories, trajectory_id)
        step, arg = run.send, None
        while True:
            try:
                predictor, kwargs = step(arg)
            except StopIteration as done:
                return done.value
            try:
                step, arg = run.send, await _acall(predictor, kwargs)
            except LMError as err:
                step, arg = run.throw, err

    # -- the algorithm, written once for sync and async -----------------------------------------
    def _run(self, conversation: ConversationInput, memories: MemoriesInput,
             trajectory_id: str | None) -> Generator[Call, dspy.Prediction, dspy.Prediction]:
        conv = prepare(conversation, max_tokens=self.max_conversation_tokens, truncate=self.truncate,
                       trajectory_id=trajectory_id)
        entries = self._existing(memories)
        ids = ShortIds()
        rejected: list[RejectedOp] = []
        steps = 0
        for step in range(self.max_steps):
            steps += 1
            listing = self._listing(entries, ids)
            reply = yield self.extract, {"conversation": conv.text, "memories": listing}
            changed, refused = self._interpret(reply.ops, entries, ids, step)
            if refused:
                feedback = "\n".join(f"{r.line} -> {r.reason}" for r in refused)
                # A failed corrective call fails the whole extraction (the LMError propagates):
                # keeping only the valid ops would drop the refused facts silently (issue 11, item 3).
                fixed = yield self.fix, {"conversation": conv.text, "memories": listing, "refused": feedback}
                for r in refused:
                    r.retried = True
                rejected.extend(refused)
                more, still = self._interpret(fixed.ops, entries, ids, step)
                changed += more
                for r in still:
                    r.reason += " (dropped after one corrective retry)"
                    r.retried = True
                rejected.extend(still)
            if not changed:
                break
        return self._result(entries, conv, rejected, steps, ids)

    def _existing(self, memories: MemoriesInput) -> dict[str, Entry]:
        if memories is None or (isinstance(memories, str) and not memories.strip()):
            return {}
        if isinstance(memories, (str, BaseModel, dict)):
            memories = [memories]
        entries: dict[str, Entry] = {}
        for item in memories:
            mem_id, kind, content = _unpack(item)
            mem_id = str(mem_id) if mem_id is not None else self.id_factory()
            if kind is None and isinstance(content, BaseModel) and find_schema(self.schemas, type(content).__name__):
                kind = type(content).__name__  # LangMem's (id, model) pairs: the model's class is its kind
            schema = find_schema(self.schemas, kind)
            if schema is None:
                raise ValidationError(
                    f"existing memory {mem_id!r} has kind {kind!r}, which is not among the schemas "
                    f"{[s.__name__ for s in self.schemas]}; add its model to schemas= or leave it out."
                )
            try:
                model = validate_content(schema, content)
            except ValidationError as err:
                raise ValidationError(f"existing memory {mem_id!r}: {err}") from None
            entries[mem_id] = Entry(mem_id, schema.__name__, model, existed=True)
        return entries

    def _listing(self, entries: dict[str, Entry], ids: ShortIds) -> str:
        many = len(self.schemas) > 1
        lines = []
        for entry in entries.values():
            if entry.deleted:
                continue
            short = ids.add(entry.id)
            lines.append(f"{short}. {entry.kind + ' ' if many else ''}{content_text(entry.content)}")
        return "\n".join(lines) or "(none)"

    def _interpret(self, text: str, entries: dict[str, Entry], ids: ShortIds, step: int) -> tuple[int, list[RejectedOp]]:
        """Apply the valid ops in ``text`` to ``entries``; return how many, and the refused ones."""
        items, refused = parse_op_lines(text if isinstance(text, str) else str(text or ""))
        for r in refused:
            r.step = step
        changed = 0
        for line, item in items:
            reason = self._apply(item, entries, ids)
            if reason:
                refused.append(RejectedOp(line, reason, step))
            else:
                changed += 1
        return changed, refused

    def _apply(self, item: dict[str, Any], entries: dict[str, Entry], ids: ShortIds) -> str | None:
        action = item.get("op")
        quote = item.get("quote")
        if action not in ("insert", "update", "delete"):
            return f'"op" must be insert, update or delete, got {action!r}'
        if not self._allowed(action):
            return f"{action} is not allowed here"
        if not isinstance(quote, str) or not quote.strip():
            return 'missing "quote": copy the conversation words this comes from'
        if action == "insert":
            schema = find_schema(self.schemas, item.get("kind"))
            if schema is None:
                return f"unknown kind {item.get('kind')!r}; use one of {[s.__name__ for s in self.schemas]}"
            try:
                model = validate_content(schema, item.get("content"))
            except ValidationError as err:
                return str(err)
            new_id = self.id_factory()
            entries[new_id] = Entry(new_id, schema.__name__, model, existed=False, changed=True, quotes=[quote])
            return None
        real = ids.real(item.get("id"))
        if real is None or real not in entries:
            return f"id {item.get('id')!r} is not one of the listed memories"
        entry = entries[real]
        if entry.deleted:
            return f"memory {item.get('id')} was already deleted"
        if action == "delete":
            entry.deleted = True
        else:
            schema = find_schema(self.schemas, entry.kind)
            assert schema is not None  # an entry's kind is the name of one of self.schemas (_existing, insert)
            base = entry.content.model_dump()
            try:
                entry.content = validate_content(schema, item.get("content"), base=base)
            except ValidationError as err:
                return str(err)
            entry.changed = True
        entry.quotes.append(quote)
        return None

    def _allowed(self, action: str) -> bool:
        return {"insert": self.enable_inserts, "update": self.enable_updates, "delete": self.enable_deletes}[action]

    def _result(self, entries: dict[str, Entry], conv: Conversation, rejected: list[RejectedOp], steps: int,
                ids: ShortIds) -> dspy.Prediction:
        ops: list[MemoryOp] = []
        memories: list[ExtractedMemory] = []
        unchanged: list[ExtractedMemory] = []
        for entry in entries.values():
            if entry.existed and not entry.deleted and not entry.changed:
                unchanged.append(ExtractedMemory(entry.id, entry.kind, entry.content))
            action: Action
            if entry.existed and entry.deleted:
                action = "delete"
            elif entry.existed and entry.changed:
                action = "update"
            elif not entry.existed and not entry.deleted:
                action = "insert"
            else:
                continue  # unchanged, or inserted and deleted again in a later pass
            content = None if action == "delete" else entry.content
            ops.append(MemoryOp(action, entry.id, entry.kind, content, list(entry.quotes), conv.trajectory_id,
                                ids.short(entry.id)))
            if content is not None:
                memories.append(ExtractedMemory(entry.id, entry.kind, content, new=not entry.existed))
        return dspy.Prediction(ops=ops, memories=memories, rejected=rejected, trajectory_id=conv.trajectory_id,
                               truncated=conv.truncated, steps=steps, unchanged=unchanged)

    # -- LangMem's call shape ---------------------------------------------------------------------
    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> list[ExtractedMemory]:
        """LangMem's ``manager.invoke({"messages": ..., "existing": ...})``: the new and updated
        memories, a ``RemoveDoc`` per deletion, then the unchanged existing ones, each
        unpackable as ``(id, content)``. ``max_steps`` in the input overrides the module's."""
        data = read_input(input, what="the memory manager")
        with self._lm_scope():
            return _langmem_result(self._with_steps(data)(data["messages"], existing_memories(data.get("existing"))))

    async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> list[ExtractedMemory]:
        """Async :meth:`invoke`."""
        data = read_input(input, what="the memory manager")
        with self._lm_scope():
            pred = await self._with_steps(data).acall(data["messages"], existing_memories(data.get("existing")))
        return _langmem_result(pred)

    def _lm_scope(self) -> contextlib.AbstractContextManager:
        """engram's LM rule (``engram.lm.resolve``) for LangMem-style calls, unless an LM was set."""
        if all(p.lm is not None for p in self.predictors()):
            return contextlib.nullcontext()
        return lm_scope(None)

    def _with_steps(self, data: dict[str, Any]) -> MemoryExtractor:
        steps = data.get("max_steps")
        if steps is None or steps == self.max_steps:
            return self
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValidationError(f"max_steps must be a positive integer, got {steps!r}")
        clone = self.deepcopy()
        clone.max_steps = steps
        return clone


def _langmem_result(pred: dspy.Prediction) -> list[ExtractedMemory]:
    removed = [ExtractedMemory(op.id, "RemoveDoc", RemoveDoc(json_doc_id=op.id))
               for op in pred.ops if op.action == "delete"]
    return [*pred.memories, *removed, *pred.unchanged]


def _unpack(item: object) -> tuple[object, str | None, object]:
    """(id, kind, content) from a record, dict, tuple, model or string."""
    # a store record (namespace), or an object that is neither a model nor a dict, with id and content
    if ((hasattr(item, "namespace") or not isinstance(item, BaseModel | dict))
            and hasattr(item, "content") and hasattr(item, "id")):
        return item.id, getattr(item, "kind", None), item.content
    if isinstance(item, dict) and "content" in item and set(item) <= {"id", "kind", "content", "key"}:
        return item.get("id", item.get("key")), item.get("kind"), item["content"]
    if isinstance(item, tuple):
        if len(item) == 2:
            return item[0], None, item[1]
        if len(item) == 3:
            return item
    if isinstance(item, BaseModel):
        return None, type(item).__name__, item
    if isinstance(item, (str, dict)):
        return None, None, item
    raise ValidationError(f"cannot read an existing memory from {type(item).__name__}; pass records, "
                          "(id, content) tuples, {'id', 'content', 'kind'} dicts or strings.")


def _call(predictor: dspy.Predict, kwargs: dict[str, Any]) -> dspy.Prediction:
    try:
        return predictor(**kwargs)
    except EngramError:
        raise
    except Exception as err:
        raise LMError(f"the memory extraction call failed ({type(err).__name__}: {err}); "
                      "check the LM configuration, or retry.") from err


async def _acall(predictor: dspy.Predict, kwargs: dict[str, Any]) -> dspy.Prediction:
    try:
        return await predictor.acall(**kwargs)
    except EngramError:
        raise
    except Exception as err:
        raise LMError(f"the memory extraction call failed ({type(err).__name__}: {err}); "
                      "check the LM configuration, or retry.") from err


__all__ = ["MemoryExtractor"]
