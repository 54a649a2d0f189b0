"""MemoryManager: extract memories from conversations and keep them in a store.

    manager = MemoryManager(store, namespace=("memories", "{user_id}"))
    result = manager.update(messages, values={"user_id": "u1"})
    result.written, result.deleted, result.rejected, result.usage

For each conversation: retrieve the relevant memories of its namespace (by embedding
the recent window, or with an LM query writer when ``query_model`` is set), run the
:class:`~engram.modules.MemoryExtractor` (one LM call by default), then write the
operations with versions and provenance. Only memories retrieved from the conversation's
own namespace are shown to the LM, so no conversation can change anything else — not
even one that says "delete all memories".

**Profile mode** (``profile=True`` or a :class:`ProfileSettings`): one document per
namespace (key ``"profile"``), updated in place. Both modes share one write path
(:mod:`engram.modules._strategies`); ``update`` and ``aupdate`` share one algorithm
(:meth:`MemoryManager._algorithm`, run by :mod:`engram.modules._drive`).

**Idempotent and serialized**: each namespace has a lock (:mod:`engram.modules._locks`)
that every entry point holds for a whole update, and a ledger of applied trajectories
(:mod:`engram.modules._ledger`, not embedded), checked under that lock; the same
trajectory is not applied twice (``force=True`` re-applies it).

**Faults**: an LM or conflict error is retried ``retries`` times, then raised (``update``)
or reported (``process``); a failed update is never recorded as applied.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from os import PathLike
from typing import TYPE_CHECKING

from engram.errors import ConflictError, LMError, ValidationError
from engram.lm import track_usage
from engram.modules._conversation import Conversation, ConversationInput, prepare
from engram.modules._drive import Algorithm, Call, Work, arun, run
from engram.modules._extractor import MemoryExtractor
from engram.modules._identity import stamp
from engram.modules._langmem import MemoryManagerRunnable
from engram.modules._ledger import Ledger, ledger_for
from engram.modules._locks import anamespace_lock, namespace_lock
from engram.modules._results import UpdateResult, trajectory_values
from engram.modules._schemas import UserProfile, check_schemas
from engram.modules._searcher import MemorySearcher
from engram.modules._settings import (
    CONSOLIDATE,
    ExtractionSettings,
    LMSpec,
    Phase,
    ProfileSettings,
    RetrievalSettings,
    group_options,
)
from engram.modules._strategies import (
    PROFILE_KEY,
    CollectionStrategy,
    ProfileStrategy,
    Records,
    Retrieved,
    Strategy,
    write_ops,
)
from engram.prompts import Prompt
from engram.store import MemoryRecord, Namespace, NamespaceTemplate

if TYPE_CHECKING:
    import dspy

    from engram.modules._batch import ProcessReport
    from engram.modules._compaction import CompactionReport
    from engram.modules._rederive import RederiveReport
    from engram.store import MemoryStore

log = logging.getLogger("engram.modules")
Values = Mapping[str, str]


_INT_OPTIONS = ("search_limit", "query_limit", "window", "max_steps", "max_conversation_tokens")


def _check_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer such as {name}=5, got {type(value).__name__} {value!r}.")


def _check_store(store: object) -> None:
    """A MemoryStore (anything with search / put / get) or None; say what to do with a path or a factory."""
    if store is None or all(callable(getattr(store, a, None)) for a in ("search", "put", "get")):
        return
    if isinstance(store, (str, PathLike)):
        raise ValidationError(f"store must be a MemoryStore, got the path {str(store)!r}; open it with "
                              f"MemoryManager(MemoryStore.persistent({str(store)!r})).")
    if callable(store):
        name = getattr(store, "__qualname__", type(store).__name__)
        raise ValidationError(f"store must be a MemoryStore, got the function {name}; call it, e.g. "
                              "MemoryManager(MemoryStore.persistent(path)) or MemoryManager(MemoryStore.in_memory()).")
    raise ValidationError(f"store must be a MemoryStore (e.g. MemoryStore.in_memory()) or None, got "
                          f"{type(store).__name__} {store!r}.")


class MemoryManager(MemoryManagerRunnable):  # + LangMem's invoke/ainvoke (engram.modules._langmem)
    """Store-backed memory extraction (see the module docstring).

    Args:
        store: a :class:`~engram.store.MemoryStore` (default: ``MemoryStore.from_settings()``).
        namespace: a namespace tuple or template such as ``("memories", "{user_id}")``.
        extraction: :class:`ExtractionSettings` (schemas, instructions, allowed ops, budget).
        retrieval: :class:`RetrievalSettings` (search_limit, window, query_model, query_limit).
        profile: ``True`` or :class:`ProfileSettings` keeps one document per namespace
            (default schema :class:`UserProfile`).
        phases: extra passes (e.g. ``[CONSOLIDATE]``), each one more LM call.
        lm: the extraction LM (default: DSPy's current LM, else ``ENGRAM_LM``).
        retries: re-attempts of an update after an LM error or a write conflict.
        ttl: how long the memories this manager writes live (seconds or a timedelta, extended
            by reads as the store's policy says); None leaves it to the store's ttl policy.
        **options: the settings' fields as flat keywords (``instructions=``, ``search_limit=``,
            ``default=``, ...), as in earlier releases.

    >>> from engram.store import MemoryStore
    >>> MemoryManager(MemoryStore.in_memory(), search_limit=5).retrieval.search_limit
    5
    """

    def __init__(self, store: MemoryStore | None = None,
                 namespace: Namespace | NamespaceTemplate | Sequence[str] = ("memories", "{user_id}"), *,
                 extraction: ExtractionSettings | None = None, retrieval: RetrievalSettings | None = None,
                 profile: bool | ProfileSettings = False, phases: Sequence[Phase] = (), lm: LMSpec = None,
                 retries: int = 1, ttl: float | timedelta | None = None, **options: object):
        from engram.store import TTLPolicy

        _check_store(store)
        for name in _INT_OPTIONS:  # before the settings compare them with numbers
            if name in options and not (name == "max_conversation_tokens" and options[name] is None):
                _check_int(options[name], name)
        _check_int(retries, "retries")
        grouped = group_options(extraction, retrieval, profile, options)
        limit = grouped.extraction.max_conversation_tokens
        if limit is not None:
            _check_int(limit, "max_conversation_tokens")
            if limit < 1:
                raise ValidationError(f"max_conversation_tokens must be at least 1 (or None for no limit), got {limit}; "
                                      "every conversation would be over it.")
        self.ttl = TTLPolicy.make(ttl).ttl
        if retries < 0:
            raise ValidationError(f"retries must be >= 0, got {retries}")
        self.extraction, self.retrieval, self.lm, self.retries = grouped.extraction, grouped.retrieval, lm, retries
        ex = self.extraction
        schemas = check_schemas(ex.schemas if ex.schemas is not None or grouped.profile is None else [UserProfile])
        self._store = store
        self.namespace = namespace if isinstance(namespace, NamespaceTemplate) else NamespaceTemplate(namespace)
        searcher = (MemorySearcher(None, self.namespace, query_limit=self.retrieval.query_limit,
                                   limit=self.retrieval.search_limit, kinds=[s.__name__ for s in schemas],
                                   lm=self.retrieval.query_model) if self.retrieval.query_model is not None else None)
        self.strategy: Strategy = (ProfileStrategy(schemas, grouped.profile) if grouped.profile is not None
                                   else CollectionStrategy(schemas, self.retrieval, searcher))
        self.searcher = searcher
        many = self.strategy.allows_deletes  # a profile is one document: no deletes, no second insert
        #: the registry prompt the instructions came from (stamped in provenance), if any
        self.prompt = ex.instructions if isinstance(ex.instructions, Prompt) else None
        text = ex.instructions.text if isinstance(ex.instructions, Prompt) else ex.instructions
        self.extractor = self._extractor(" ".join(filter(None, [self.strategy.instructions, text])),
                                         ex.enable_inserts, ex.enable_updates, ex.enable_deletes and many,
                                         ex.max_steps)
        self.phases = [(p, self._extractor(p.instructions, p.enable_inserts and many, p.enable_updates,
                                           p.enable_deletes and many, 1)) for p in phases]

    def _extractor(self, instructions: str, inserts: bool, updates: bool, deletes: bool, steps: int) -> MemoryExtractor:
        ex = self.extraction
        return MemoryExtractor(self.schemas, instructions=instructions, enable_inserts=inserts,
                               enable_updates=updates, enable_deletes=deletes, max_steps=steps,
                               max_conversation_tokens=ex.max_conversation_tokens, truncate=ex.truncate)

    @property
    def schemas(self) -> tuple[type, ...]:
        return self.strategy.schemas

    @property
    def kinds(self) -> list[str]:
        return self.strategy.kinds

    @property
    def profile(self) -> bool:
        return isinstance(self.strategy, ProfileStrategy)

    @property
    def store(self) -> MemoryStore:
        if self._store is None:
            from engram.store import MemoryStore

            self._store = MemoryStore.from_settings()
        return self._store

    # -- reading ------------------------------------------------------------------------------
    def namespace_for(self, values: Values | None = None, conversation: object = None) -> Namespace:
        return self.namespace.fill({**trajectory_values(conversation), **(values or {})})

    def search(self, query: str, values: Values | None = None, *, limit: int = 10) -> list[MemoryRecord]:
        """Memories of the filled namespace closest to ``query`` (this manager's kinds only)."""
        kind = self.kinds[0] if len(self.kinds) == 1 else None
        found = self.store.search(self.namespace.fill(values or {}), query, kind=kind, limit=limit)
        return [r for r in found if r.kind in self.kinds]

    def identity(self) -> dict[str, str]:
        """The extractor's stamp written into provenance: program hash, prompt name/version, LM name.

        >>> from engram.store import MemoryStore
        >>> sorted(MemoryManager(MemoryStore.in_memory(), lm="offline/echo").identity())
        ['lm', 'program']
        """
        return stamp([self.extractor, *(e for _, e in self.phases)], self.lm, self.prompt)

    def is_processed(self, namespace: Namespace, trajectory_id: str) -> bool:
        """Whether this trajectory was already applied to this namespace."""
        return bool(ledger_for(self.store, namespace).has([trajectory_id]))

    # -- one update, written once ---------------------------------------------------------------
    def update(self, conversation: ConversationInput, values: Values | None = None, *,
               trajectory_id: str | None = None, force: bool = False) -> UpdateResult:
        """Extract from one conversation and apply the result to its namespace (see module docs)."""
        conv, ns = self._begin(conversation, values, trajectory_id)
        result = UpdateResult(ns, conv.trajectory_id)
        with namespace_lock(self.store, ns), track_usage() as result.usage:
            run(self._algorithm(self.store, conv, result, force), self.lm)
        return result

    async def aupdate(self, conversation: ConversationInput, values: Values | None = None, *,
                      trajectory_id: str | None = None, force: bool = False) -> UpdateResult:
        """Async :meth:`update`: LM calls awaited, store work in worker threads."""
        conv, ns = self._begin(conversation, values, trajectory_id)
        result = UpdateResult(ns, conv.trajectory_id)
        async with anamespace_lock(self.store, ns):
            with track_usage() as result.usage:
                await arun(self._algorithm(self.store, conv, result, force), self.lm)
        return result

    def _begin(self, conversation: ConversationInput, values: Values | None,
               trajectory_id: str | None) -> tuple[Conversation, Namespace]:
        conv = prepare(conversation, max_tokens=self.extraction.max_conversation_tokens,
                       truncate=self.extraction.truncate, trajectory_id=trajectory_id)
        return conv, self.namespace_for(values, conversation)

    def _algorithm(self, store: MemoryStore, conv: Conversation, result: UpdateResult,
                   force: bool) -> Algorithm[None]:
        ns, tid = result.namespace, conv.trajectory_id
        ledger = ledger_for(store, ns)
        origin = self.identity()
        # Store work is folded into as few steps as the order allows: under aupdate each step is a
        # hop to a worker thread and back to the event loop, which under load costs more than the work.
        start = yield Work(self._start, (store, ns, conv, ledger, tid, force))
        if start is None:
            result.skipped = True
            return
        retrieved: Retrieved | None = start[0]
        last = not self.phases  # then the ledger mark goes with the write, in the same step
        while True:
            result.attempts += 1
            try:
                shown, records = retrieved if retrieved is not None else (yield from self.strategy.retrieve(store, ns, conv))
                retrieved = None  # a retry retrieves again: the namespace may have changed
                pred = yield Call(self.extractor, {"conversation": conv, "memories": shown, "trajectory_id": tid})
                ops = self._stamped(pred, origin)
                if last:
                    self._record(result, pred, (yield Work(self._write_and_mark, (store, ns, ops, records, ledger, tid))))
                    return
                self._record(result, pred, (yield Work(self._write_ops, (store, ns, ops, records))))
                for phase, extractor in self.phases:
                    current, records = yield Work(self._phase_inputs, (store, ns, records, result))
                    text = conv if phase.include_conversation else Conversation([], tid, f"({phase.name} pass)")
                    pred = yield Call(extractor, {"conversation": text, "memories": current, "trajectory_id": tid})
                    ops = self._stamped(pred, origin)
                    self._record(result, pred, (yield Work(self._write_ops, (store, ns, ops, records))))
                break
            except (LMError, ConflictError) as err:
                self._failed(result, err)
        # only now, after every write of this trajectory succeeded (see engram.modules._ledger)
        yield Work(ledger.mark, ([tid], {"written": len(result.written), "deleted": len(result.deleted)}))

    def _start(self, store: MemoryStore, ns: Namespace, conv: Conversation, ledger: Ledger, tid: str,
               force: bool) -> tuple[Retrieved | None] | None:
        """None when the trajectory was applied already; else the retrieval, if it needs no LM."""
        if not force and ledger.has([tid]):
            return None
        return (self.strategy.retrieve_now(store, ns, conv),)

    def _write_and_mark(self, store: MemoryStore, ns: Namespace, ops: list, records: Records, ledger: Ledger,
                        tid: str) -> tuple[list[MemoryRecord], list[str]]:
        """The last write of an update, then its ledger mark (only once the write succeeded)."""
        written, deleted = self._write_ops(store, ns, ops, records)
        ledger.mark([tid], {"written": len(written), "deleted": len(deleted)})
        return written, deleted

    def _write_ops(self, store: MemoryStore, ns: Namespace, ops: list, records: Records) -> tuple[list[MemoryRecord], list[str]]:
        with store.using_ttl(self.ttl) if self.ttl is not None else contextlib.nullcontext():
            return write_ops(store, ns, ops, records, self.strategy)

    @staticmethod
    def _phase_inputs(store: MemoryStore, ns: Namespace, records: Records,
                      result: UpdateResult) -> tuple[list[MemoryRecord], Records]:
        keys = list(dict.fromkeys([*records, *(r.id for r in result.written)]))
        current = store.search(ns, None, keys=keys, limit=max(1, len(keys))) if keys else []
        return current, {r.id: r for r in current}

    def _failed(self, result: UpdateResult, err: Exception) -> None:
        result.errors.append(f"{type(err).__name__}: {err}")
        log.warning("memory update of %s in %s failed (attempt %d): %s", result.trajectory_id,
                    result.namespace, result.attempts, err)
        if result.attempts > self.retries:
            raise err

    @staticmethod
    def _stamped(pred: dspy.Prediction, origin: dict[str, str]) -> list:
        for op in pred.ops:
            op.stamp = origin
        return pred.ops

    @staticmethod
    def _record(result: UpdateResult, pred: dspy.Prediction, applied: tuple[list[MemoryRecord], list[str]]) -> None:
        result.ops.extend(pred.ops)
        result.rejected.extend(pred.rejected)
        result.written.extend(applied[0])
        result.deleted.extend(applied[1])
        for rejected in pred.rejected:
            log.info("memory op refused in %s: %s (%s)", result.trajectory_id, rejected.line, rejected.reason)

    # -- many updates -----------------------------------------------------------------------------
    def process(self, dataset: object, **kwargs: object) -> ProcessReport:
        """Apply every trajectory of a dataset; see :func:`engram.modules._batch.process`."""
        from engram.modules._batch import process

        return process(self, dataset, **kwargs)  # type: ignore[arg-type]

    async def aprocess(self, dataset: object, **kwargs: object) -> ProcessReport:
        from engram.modules._batch import aprocess

        return await aprocess(self, dataset, **kwargs)  # type: ignore[arg-type]

    # -- maintenance (engram.modules._compaction, engram.modules._rederive) -------------------------
    def compact(self, namespace: Namespace | Values | None = None, **kwargs: object) -> CompactionReport:
        """Merge duplicates, resolve contradictions, optionally cap; see :func:`engram.modules._compaction.compact`."""
        from engram.modules._compaction import compact

        return compact(self, namespace, **kwargs)  # type: ignore[arg-type]

    async def acompact(self, namespace: Namespace | Values | None = None, **kwargs: object) -> CompactionReport:
        from engram.modules._compaction import acompact

        return await acompact(self, namespace, **kwargs)  # type: ignore[arg-type]

    def rederive(self, namespace: Namespace | Values | None = None, **kwargs: object) -> RederiveReport:
        """Re-extract what another extractor wrote; see :func:`engram.modules._rederive.rederive`."""
        from engram.modules._rederive import rederive

        return rederive(self, namespace, **kwargs)  # type: ignore[arg-type]


__all__ = ["CONSOLIDATE", "PROFILE_KEY", "MemoryManager", "Phase", "UpdateResult", "trajectory_values"]
