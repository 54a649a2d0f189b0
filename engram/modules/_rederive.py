"""Re-derivation: replace what one extractor version wrote with what the current one extracts.

    bad = manager_v1.identity()["program"]          # or an LM name, or "prompt@version"
    report = manager_v2.rederive({"user_id": "u1"}, written_by=bad, trajectories=dataset)
    report.replaced, [r.text for r in report.written], report.missing
    report.undo(manager_v2.store)

**engram does not keep conversations**: a memory's provenance names its trajectories
(``trajectory_id``), and the caller passes them (a ``TrajectoryDataset``, a list, a file
path: anything :func:`engram.trajectories.coerce` reads). A memory *written by* the given
identity has a provenance entry stamped with it (see :class:`engram.store.Provenance`).
It is replaced whole, so every trajectory in its provenance must be given; a memory with a
trajectory missing from ``trajectories`` is left as it is and listed in ``missing``.

The current extractor then runs over those trajectories in time order (the extraction
pass; extra phases are not re-run), shown the namespace's other memories but not the ones
being replaced, and its operations are written through the manager's write path with the
current stamp. Only after every trajectory succeeded are the replaced memories
soft-deleted (their last version says ``rederived``); an LM error midway raises
:class:`RederiveError` with the report, and leaves the old memories in place (the new ones
written so far are listed, so nothing is lost and ``undo`` reverts them). Every change
is a version, so :meth:`RederiveReport.undo` puts the namespace back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engram.errors import LMError, NotFoundError, ValidationError
from engram.lm import Usage, track_usage
from engram.modules._compaction import _namespace
from engram.modules._conversation import prepare
from engram.modules._drive import Algorithm, Call, Work, run
from engram.modules._identity import matches
from engram.modules._locks import namespace_lock
from engram.modules._strategies import write_ops
from engram.store import MemoryRecord, Namespace

if TYPE_CHECKING:
    from engram.modules._manager import MemoryManager
    from engram.store import MemoryStore
    from engram.trajectories import Trajectory

NamespaceArg = Namespace | Sequence[str] | Mapping[str, str] | None
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RederiveError(LMError):
    """Re-derivation stopped at a failed trajectory; ``report`` says what was written."""

    def __init__(self, message: str, report: RederiveReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class RederiveReport:
    """What :func:`rederive` did.

    ``replaced``: keys of the memories the old extractor wrote, now deleted (or, where the
    current extractor wrote the same text from the same trajectory, rewritten in place with
    the current stamp); ``written``: the
    records the current extractor wrote (new, or updates of other memories); ``missing``:
    key -> trajectory ids not given, so the memory was kept; ``trajectories``: ids re-run;
    ``versions``: each touched key's version before (0 = did not exist), for :meth:`undo`.
    """

    namespace: Namespace
    written_by: str
    stamp: dict[str, str] = field(default_factory=dict)
    replaced: list[str] = field(default_factory=list)
    written: list[MemoryRecord] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)
    trajectories: list[str] = field(default_factory=list)
    lm_calls: int = 0
    complete: bool = False
    versions: dict[str, int] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)

    @property
    def changed(self) -> bool:
        return bool(self.replaced or self.written)

    def undo(self, store: MemoryStore) -> None:
        """Put every touched memory back as it was (new ones are soft-deleted)."""
        for key, version in self.versions.items():
            if version:
                store.restore(self.namespace, key, version)
            elif store.get(self.namespace, key) is not None:
                store.delete(self.namespace, key)


def _selected(store: MemoryStore, ns: Namespace, kinds: list[str], written_by: str,
              given: Mapping[str, Trajectory], report: RederiveReport) -> list[MemoryRecord]:
    chosen = []
    for rec in store.list(ns, limit=max(1, store.count(ns))):
        if rec.kind not in kinds or not any(matches(p, written_by) for p in rec.provenance):
            continue
        tids = list(dict.fromkeys(p.trajectory_id for p in rec.provenance if p.trajectory_id))
        absent = [t for t in tids if t not in given]
        if absent or not tids:
            report.missing[rec.id] = absent
        else:
            chosen.append(rec)
    return chosen


def _retire(store: MemoryStore, ns: Namespace, records: list[MemoryRecord], label: str) -> None:
    rows = [{"key": r.id, "content": r.content, "kind": r.kind, "text": r.text,
             "metadata": {**r.metadata, "rederived": label}, "expected_version": r.version,
             "provenance": [p.model_dump(exclude_none=True) for p in r.provenance]} for r in records]
    if rows:
        store.put_many(ns, rows)
    for rec in records:
        try:
            store.delete(ns, rec.id)
        except NotFoundError:
            pass


def _algorithm(manager: MemoryManager, store: MemoryStore, report: RederiveReport,
               given: Mapping[str, Trajectory]) -> Algorithm[None]:
    ns = report.namespace
    old = yield Work(_selected, (store, ns, manager.kinds, report.written_by, given, report))
    retiring = {r.id for r in old}
    wanted = {p.trajectory_id for r in old for p in r.provenance if p.trajectory_id}
    order = sorted(wanted, key=lambda t: (given[t].time or _EPOCH, t))
    report.versions.update({r.id: r.version for r in old})
    for tid in order:
        traj = given[tid]
        conv = prepare(traj, max_tokens=manager.extraction.max_conversation_tokens,
                       truncate=manager.extraction.truncate, trajectory_id=tid)
        shown, records = yield from manager.strategy.retrieve(store, ns, conv)
        shown = [r for r in shown if getattr(r, "id", None) not in retiring]
        records = {k: r for k, r in records.items() if k not in retiring}
        report.lm_calls += 1
        try:
            pred = yield Call(manager.extractor, {"conversation": conv, "memories": shown, "trajectory_id": tid})
        except LMError as err:
            raise RederiveError(f"re-derivation in {ns!r} stopped at trajectory {tid!r}: {err}. The memories "
                                f"being replaced were kept; {len(report.written)} new version(s) were written "
                                "(report.undo(store) reverts them).", report) from err
        for op in pred.ops:
            op.stamp = report.stamp
            if op.action != "insert" and op.id in records:
                report.versions.setdefault(op.id, records[op.id].version)
        written, _ = yield Work(write_ops, (store, ns, pred.ops, records, manager.strategy))
        for rec in written:
            report.versions.setdefault(rec.id, rec.version - 1)
        report.written.extend(written)
        report.trajectories.append(tid)
    # an insert of the same text from the same trajectory lands on its old key (a new version); the rest go
    rewritten = {r.id for r in report.written}
    yield Work(_retire, (store, ns, [r for r in old if r.id not in rewritten],
                         f"replaced by program {report.stamp.get('program')}"))
    report.replaced = [r.id for r in old]
    report.complete = True


def rederive(manager: MemoryManager, namespace: NamespaceArg = None, *, written_by: str,
             trajectories: Any, lm: Any = None) -> RederiveReport:
    """Re-run ``manager``'s extractor over the trajectories whose memories ``written_by`` wrote
    (see the module docstring); ``written_by`` is a program hash, an LM name, or a prompt
    name / version (``"name@version"``).

    >>> from engram.modules import MemoryManager
    >>> from engram.store import MemoryStore
    >>> from engram.testing import offline_lm
    >>> store, chat = MemoryStore.in_memory(), [{"role": "user", "content": "I moved to Lisbon"}]
    >>> old = MemoryManager(store, lm=offline_lm("support"), instructions="v1")
    >>> _ = old.update(chat, {"user_id": "u1"}, trajectory_id="t1")
    >>> new = MemoryManager(store, lm=offline_lm("support"), instructions="v2")
    >>> report = new.rederive({"user_id": "u1"}, written_by=old.identity()["program"],
    ...                       trajectories=[{"id": "t1", "messages": chat}])
    >>> len(report.replaced), [p.program for p in report.written[0].provenance] == [new.identity()["program"]]
    (1, True)
    """
    from engram.trajectories import coerce

    if not isinstance(written_by, str) or not written_by.strip():
        raise ValidationError("written_by must name an extractor: a program hash, an LM name or a prompt "
                              "version (see MemoryManager.identity()).")
    if manager.profile:
        raise ValidationError("rederive works on collection managers; a profile is one document that every "
                              "trajectory updated: re-run process(dataset, force=True) instead.")
    ns = _namespace(manager, namespace)
    given = {t.id: t for t in coerce(trajectories, what="rederive() trajectories")}
    store = manager.store
    if ns not in store.list_namespaces(ns, include_internal=True):
        raise NotFoundError(f"namespace {ns!r} holds no memories in this store; check the values, or list "
                            "the namespaces with store.list_namespaces().")
    report = RederiveReport(ns, written_by.strip())
    with namespace_lock(store, ns), track_usage() as report.usage:
        from engram.modules._identity import stamp

        report.stamp = stamp([manager.extractor, *(e for _, e in manager.phases)], lm or manager.lm, manager.prompt)
        run(_algorithm(manager, store, report, given), lm or manager.lm)
    return report


__all__ = ["RederiveError", "RederiveReport", "rederive"]
