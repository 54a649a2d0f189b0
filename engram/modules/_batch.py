"""Apply a whole TrajectoryDataset to memory, with bounded concurrency and a progress bar.

    report = manager.process(dataset, concurrency=4)
    report.applied_ids, report.skipped_ids, report.failed_ids, report.blocked_ids

Trajectories are grouped by namespace. **A namespace is an ordered log**: its trajectories
are applied one after another in time order (memories evolve in order), and when one
fails, the later ones of that namespace are *blocked* — not applied in this run — so an
old fact can never overwrite a newer one. The next run applies the failed one first, then
the rest. ``skip=[ids]`` leaves trajectories out on purpose (they block nothing and are
not recorded as applied). Different namespaces run in parallel, at most ``concurrency`` at
a time, the longest logs first (the run can end no sooner than its longest log does).
Re-running is safe: trajectories already applied are skipped (the ledger).

**Scale-out over processes or machines** (``shard=(i, n)``): namespace locks are per
process, so processes must not share a namespace. Every process gets the whole dataset
and ``shard=(i, n)``, and applies only the namespaces of shard ``i``; together the ``n``
shards cover every namespace exactly once. ``shard_by`` picks the assignment (see
:mod:`engram.modules._shard`): ``"hash"`` (the default) by a SHA-256 of the namespace alone,
right for any data (streams, growing logs), but uneven (32 equal users split 19/13: at most
1.68x from two processes); ``"load"`` by a plan balanced on the dataset's trajectory counts
(16/16), **which requires every process to be given the same dataset**; each process reports
the plan's fingerprint (``report.plan``), and they must all match. The processes share one
Chroma server (``MemoryStore.http(url)``, or ``ENGRAM_CHROMA_URL``), and the ledger lives in
that store, so any of them can be re-run, and a later run without ``shard`` skips everything
the shards applied (run against a server, so not a runnable example here):

    # process i of n (e.g. from a job array over one dataset file), all on one `chroma run` server
    store = MemoryStore.http("http://chroma.internal:8000")
    manager = MemoryManager(store, ("memories", "{user_id}"))
    report = manager.process(dataset, shard=(i, n), shard_by="load", concurrency=16)
    report.total, report.other_shards          # this shard's trajectories, the others'
    report.plan.fingerprint                    # the same in all n processes, or their datasets differ

``engram run config.yaml --shard i/n --shard-by load`` does the same for the memory step of a run.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import engram.events as events
from engram.errors import ValidationError
from engram.lm import Usage, context_runner, track_usage
from engram.modules._results import UpdateResult
from engram.modules._shard import (
    DEFAULT_SHARD_BY,
    Shard,
    ShardBy,
    ShardPlan,
    ValuesArg,
    check_shard,
    check_shard_by,
    plan_of,
    shard_keys,
)
from engram.trajectories import Trajectory

if TYPE_CHECKING:
    from tqdm.auto import tqdm

    from engram.modules._manager import MemoryManager

log = logging.getLogger("engram.modules")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_tally = threading.Lock()
Outcome = Literal["applied", "skipped", "excluded", "failed", "blocked"]
Group = list[tuple[Trajectory, dict[str, str]]]


@dataclass
class ProcessReport:
    """The outcome of :func:`process`, per trajectory id.

    ``outcomes[id]`` is ``"applied"`` (in this run), ``"skipped"`` (applied by an earlier
    run), ``"excluded"`` (``skip=``), ``"failed"`` (``failures`` has the error) or
    ``"blocked"`` (an earlier trajectory of its namespace failed; ``blocked_by`` names it).
    Only ``done_ids`` (applied or skipped) may be checkpointed as done.
    """

    total: int = 0
    applied: int = 0
    skipped: int = 0
    failed: int = 0
    blocked: int = 0
    excluded: int = 0
    results: list[UpdateResult] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (trajectory id, error)
    blocked_by: dict[str, str] = field(default_factory=dict)  # blocked id -> the failed id before it
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)  # every LM response of the run (a raised call has none)
    other_shards: int = 0  # trajectories of namespaces that belong to other shards (``shard=``)
    shard: Shard | None = None  # (i, n) when this run applied one shard
    plan: ShardPlan | None = None  # the n-shard plan it followed: compare ``plan.fingerprint`` across processes

    def ids(self, outcome: Outcome) -> list[str]:
        return [tid for tid, o in self.outcomes.items() if o == outcome]

    @property
    def applied_ids(self) -> list[str]:
        return self.ids("applied")

    @property
    def skipped_ids(self) -> list[str]:
        return self.ids("skipped")

    @property
    def failed_ids(self) -> list[str]:
        return self.ids("failed")

    @property
    def blocked_ids(self) -> list[str]:
        return self.ids("blocked")

    @property
    def done_ids(self) -> list[str]:
        """Applied in this run or an earlier one: what a checkpoint may record as done."""
        return [tid for tid, o in self.outcomes.items() if o in ("applied", "skipped")]

    def _add(self, tid: str, outcome: Outcome, error: str | None = None,
             result: UpdateResult | None = None) -> None:
        with _tally:  # namespaces report from several threads
            self.outcomes[tid] = outcome
            setattr(self, outcome, getattr(self, outcome) + 1)
            if error is not None:
                self.failures.append((tid, error))
            if result is not None:
                self.results.append(result)

    def __str__(self) -> str:
        elsewhere = f" ({self.other_shards} more belong to other shards)" if self.other_shards else ""
        if self.shard is not None and self.plan is not None:
            elsewhere += f" [shard {self.shard[0]}/{self.shard[1]} of {self.plan}]"
        return (f"{self.total} trajectories{elsewhere}: {self.applied} applied, {self.skipped} already done, "
                f"{self.failed} failed, {self.blocked} blocked by a failure, {self.excluded} skipped on request")


def _time(trajectory: Trajectory) -> datetime:
    t = trajectory.time
    if t is None:
        return _EPOCH
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _groups(manager: MemoryManager, trajectories: list[Trajectory], values: ValuesArg,
            report: ProcessReport, shard: Shard | None = None, shard_by: ShardBy = DEFAULT_SHARD_BY) -> list[Group]:
    """This shard's trajectories grouped by namespace, each group in time order, the longest
    group first; unfillable ones are failures (of the shard their ``("", id)`` key is in)."""
    keyed = shard_keys(manager, trajectories, values)
    if shard is not None:
        report.shard = shard
        report.plan = plan_of(keyed, shard[1], shard_by)
    groups: dict[tuple[str, ...], list[tuple[int, Trajectory, dict[str, str]]]] = {}
    unfillable: list[tuple[str, BaseException]] = []
    for index, (trajectory, merged, key, error) in enumerate(keyed):
        if report.plan is not None and shard is not None and report.plan.shard_of(key) != shard[0]:
            report.other_shards += 1
        elif error is not None:
            report._add(trajectory.id, "failed", f"{type(error).__name__}: {error}")
            unfillable.append((trajectory.id, error))
        else:
            groups.setdefault(key, []).append((index, trajectory, merged))
    report.total = len(trajectories) - report.other_shards
    if unfillable:  # failures no LM call makes, so _Log.done never logs them
        first_id, first = unfillable[0]
        log.warning("%d of %d trajectories fail: they cannot fill the namespace template %s (first: %s: %s)",
                    len(unfillable), report.total, manager.namespace.template, first_id, first)
    ordered = [[(t, v) for _, t, v in sorted(items, key=lambda x: (_time(x[1]), x[0]))]
               for items in groups.values()]
    return sorted(ordered, key=len, reverse=True)  # stable: equal lengths keep dataset order


def _coerce(dataset: object) -> list[Trajectory]:
    from engram.trajectories import coerce

    return coerce(dataset, what="process() dataset")


def _skip_set(skip: Iterable[str] | None, trajectories: list[Trajectory]) -> set[str]:
    if skip is None:
        return set()
    if isinstance(skip, str):
        raise ValidationError(f"skip must be a list of trajectory ids, got the string {skip!r}; "
                              f"write skip=[{skip!r}].")
    wanted = set(skip)
    unknown = sorted(wanted - {t.id for t in trajectories})
    if unknown:
        raise ValidationError(f"skip names trajectory ids that are not in the dataset: {unknown[:5]}; "
                              "check the ids (report.failed_ids lists the ones that failed).")
    return wanted


def _progress(total: int, enabled: bool) -> tqdm | None:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="memories", unit="traj")


class _Log:
    """One namespace's log as it is worked through: a failure blocks the rest of it."""

    def __init__(self, report: ProcessReport, skip: set[str]) -> None:
        self.report, self.skip = report, skip
        self.blocker: str | None = None

    def pending(self, trajectory: Trajectory) -> bool:
        """Whether to apply ``trajectory`` now (otherwise its outcome is recorded here)."""
        if trajectory.id in self.skip:
            self.report._add(trajectory.id, "excluded")
            return False
        if self.blocker is not None:
            self.report.blocked_by[trajectory.id] = self.blocker
            self.report._add(trajectory.id, "blocked")
            return False
        return True

    def done(self, trajectory: Trajectory, outcome: UpdateResult | BaseException) -> None:
        report = self.report
        if isinstance(outcome, BaseException):
            self.blocker = trajectory.id
            report._add(trajectory.id, "failed", f"{type(outcome).__name__}: {outcome}")
            log.warning("memory update of %s failed; the later trajectories of its namespace wait for it: %s",
                        trajectory.id, outcome)
            return
        report._add(trajectory.id, "skipped" if outcome.skipped else "applied", result=outcome)


def process(manager: MemoryManager, dataset: object, *, values: ValuesArg = None, concurrency: int = 4,
            progress: bool = True, force: bool = False, skip: Iterable[str] | None = None,
            shard: Shard | None = None, shard_by: ShardBy = DEFAULT_SHARD_BY) -> ProcessReport:
    """Apply every trajectory of ``dataset`` with ``manager`` (see the module docstring).

    ``values`` adds namespace values (a dict, or a function of the trajectory); by default
    ``user_id`` / ``thread_id`` come from the trajectory's ``user`` / ``thread``. ``skip``:
    trajectory ids to leave out on purpose (e.g. one that keeps failing). ``shard=(i, n)``:
    apply only the namespaces of shard ``i`` of ``n`` (one of ``n`` processes sharing a store),
    assigned by ``shard_by``: ``"hash"`` (default: the namespace alone decides, so it is right
    for any data; uneven) or ``"load"`` (balanced on this dataset's trajectory counts; only
    if every process is given the same dataset: compare ``report.plan.fingerprint``).
    """
    if concurrency < 1:
        raise ValidationError(f"concurrency must be at least 1, got {concurrency}")
    part, by = check_shard(shard), check_shard_by(shard_by)
    trajectories = _coerce(dataset)
    skipped = _skip_set(skip, trajectories)
    report = ProcessReport(total=len(trajectories))
    groups = _groups(manager, trajectories, values, report, part, by)  # before the span: its params name the plan
    with events.span("extraction", _span_name(manager), _span_params(manager, concurrency, force, report),
                     data=trajectories) as span, track_usage() as usage:  # autolog: one MLflow run
        report = span.result = _process(manager, report, groups, concurrency, progress, force, skipped)
    report.usage = usage
    return report


def _span_name(manager: MemoryManager) -> str:
    parts = manager.namespace.template
    return "extraction:" + "/".join(map(str, parts)) if parts else "extraction"


def _span_params(manager: MemoryManager, concurrency: int, force: bool, report: ProcessReport
                 ) -> dict[str, object]:
    params: dict[str, object] = {"manager": type(manager).__name__, "concurrency": concurrency, "force": force,
                                 "namespace": "/".join(map(str, manager.namespace.template))}
    if report.shard is not None and report.plan is not None:
        params.update(shard=f"{report.shard[0]}/{report.shard[1]}", shard_by=report.plan.by,
                      shard_plan=report.plan.fingerprint)
    return params


def _group_runner(manager: MemoryManager, report: ProcessReport, bar: tqdm | None, force: bool, skip: set[str],
                  stop: threading.Event | None = None) -> Callable[[Group], None]:
    """A function that works through one namespace's log, update after update, in one thread.
    ``stop`` (set when an :func:`aprocess` is cancelled) starts no further update."""
    def run_group(group: Group) -> None:
        entries = _Log(report, skip)
        for trajectory, vals in group:
            if stop is not None and stop.is_set():
                return
            if entries.pending(trajectory):
                try:
                    outcome: UpdateResult | BaseException = manager.update(trajectory, vals, force=force)
                except Exception as err:  # noqa: BLE001 - reported in the report, never swallowed
                    outcome = err
                entries.done(trajectory, outcome)
            if bar is not None:
                bar.update(1)

    return run_group


def _process(manager: MemoryManager, report: ProcessReport, groups: list[Group], concurrency: int,
             progress: bool, force: bool, skip: set[str]) -> ProcessReport:
    bar = _progress(report.total, progress)
    if bar is not None and report.failed:
        bar.update(report.failed)
    run_group = _group_runner(manager, report, bar, force, skip)
    try:
        with ThreadPoolExecutor(max_workers=min(concurrency, max(1, len(groups)))) as pool:
            list(pool.map(context_runner(run_group), groups))
    finally:
        if bar is not None:
            bar.close()
    return report


async def aprocess(manager: MemoryManager, dataset: object, *, values: ValuesArg = None, concurrency: int = 4,
                   progress: bool = True, force: bool = False, skip: Iterable[str] | None = None,
                   shard: Shard | None = None, shard_by: ShardBy = DEFAULT_SHARD_BY) -> ProcessReport:
    """Async :func:`process` (the same ``shard`` / ``shard_by``): each namespace's log runs
    whole, update after update with its LM calls, in a pool of ``concurrency`` threads, as in
    :func:`process`; the event loop only awaits the logs, so it is never blocked. Cancelling
    it lets each namespace finish the update it is in and starts no other.

    Why not :meth:`~MemoryManager.aupdate` with the LM call awaited on the loop: DSPy formats
    the prompt and parses the reply in Python, and on one event-loop thread that work queues
    behind every other namespace's. Nor one update per hand-off to the pool: each hand-off
    back to the loop waits for the GIL behind up to ``concurrency`` busy threads (up to the
    5 ms switch interval each, twice per update). At L = 0.5 s and 32 namespaces
    (``benchmarks/throughput.py``, quiet 2-core machine) a pool call per update reached a
    median 0.86 of the LM floor (0.82-0.89, 12 runs), a pool call per log 0.88 (0.875-0.895, 10 runs)."""
    if concurrency < 1:
        raise ValidationError(f"concurrency must be at least 1, got {concurrency}")
    part, by = check_shard(shard), check_shard_by(shard_by)
    trajectories = _coerce(dataset)
    skipped = _skip_set(skip, trajectories)
    report = ProcessReport(total=len(trajectories))
    groups = _groups(manager, trajectories, values, report, part, by)
    with events.span("extraction", _span_name(manager), _span_params(manager, concurrency, force, report),
                     data=trajectories) as span, track_usage() as usage:
        report = span.result = await _aprocess(manager, report, groups, concurrency, progress, force, skipped)
    report.usage = usage
    return report


async def _aprocess(manager: MemoryManager, report: ProcessReport, groups: list[Group], concurrency: int,
                    progress: bool, force: bool, skip: set[str]) -> ProcessReport:
    bar = _progress(report.total, progress)
    if bar is not None and report.failed:
        bar.update(report.failed)
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    run_group = context_runner(_group_runner(manager, report, bar, force, skip, stop))  # the caller's DSPy context
    # A thread per namespace that may run at once (asyncio's default pool has cores + 4 threads,
    # so 32 namespaces would queue for it); the pool's queue is the concurrency limit.
    pool = ThreadPoolExecutor(max_workers=min(concurrency, max(1, len(groups))), thread_name_prefix="engram-aprocess")
    try:
        await asyncio.gather(*(loop.run_in_executor(pool, run_group, g) for g in groups))
    finally:
        stop.set()  # cancelled: each namespace finishes the update it is in, and starts no other
        pool.shutdown(wait=False, cancel_futures=True)
        if bar is not None:
            bar.close()
    return report


__all__ = ["ProcessReport", "aprocess", "process"]
