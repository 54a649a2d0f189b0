"""Apply a whole TrajectoryDataset to memory, with bounded concurrency and a progress bar.

    report = manager.process(dataset, concurrency=4)
    report.applied, report.skipped, report.failed, report.failures

Trajectories are grouped by namespace: one namespace's trajectories are applied one
after another in time order (memories evolve in order and writers never race), while
different namespaces run in parallel, at most ``concurrency`` at a time. Re-running is
safe: trajectories already applied are skipped. A failure is reported with its
trajectory id and error, and leaves that trajectory unapplied for the next run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import engram.events as events
from engram.errors import EngramError, ValidationError

log = logging.getLogger("engram.store")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class ProcessReport:
    """The outcome of :func:`process`: counts, per-trajectory results and failures."""

    total: int = 0
    applied: int = 0
    skipped: int = 0
    failed: int = 0
    results: list[Any] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (trajectory id, error)

    def __str__(self) -> str:
        return (f"{self.total} trajectories: {self.applied} applied, {self.skipped} already done, "
                f"{self.failed} failed")


def _time(trajectory: Any) -> datetime:
    t = getattr(trajectory, "time", None)
    if t is None:
        return _EPOCH
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _groups(manager: Any, trajectories: list[Any], values: Callable[[Any], dict] | dict | None,
            report: ProcessReport) -> list[list[tuple[Any, dict]]]:
    """Trajectories grouped by namespace, each group in time order; unfillable ones are failures."""
    from engram.modules._manager import trajectory_values

    groups: dict[tuple[str, ...], list[tuple[int, Any, dict]]] = {}
    for index, trajectory in enumerate(trajectories):
        extra = values(trajectory) if callable(values) else (values or {})
        merged = {**trajectory_values(trajectory), **extra}
        try:
            ns = manager.namespace.fill(merged)
        except EngramError as err:
            report.failed += 1
            report.failures.append((trajectory.id, f"{type(err).__name__}: {err}"))
            continue
        groups.setdefault(ns, []).append((index, trajectory, merged))
    return [[(t, v) for _, t, v in sorted(items, key=lambda x: (_time(x[1]), x[0]))]
            for items in groups.values()]


def _coerce(dataset: Any) -> list[Any]:
    from engram.trajectories import coerce

    return coerce(dataset, what="process() dataset")


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="memories", unit="traj")


def _tally(report: ProcessReport, trajectory: Any, outcome: Any) -> None:
    if isinstance(outcome, BaseException):
        report.failed += 1
        report.failures.append((trajectory.id, f"{type(outcome).__name__}: {outcome}"))
        log.warning("memory update of %s failed: %s", trajectory.id, outcome)
        return
    report.results.append(outcome)
    if outcome.skipped:
        report.skipped += 1
    else:
        report.applied += 1


def process(manager: Any, dataset: Any, *, values: Callable[[Any], dict] | dict | None = None,
            concurrency: int = 4, progress: bool = True, force: bool = False) -> ProcessReport:
    """Apply every trajectory of ``dataset`` with ``manager`` (see the module docstring).

    ``values`` adds namespace values (a dict, or a function of the trajectory); by default
    ``user_id`` / ``thread_id`` come from the trajectory's ``user`` / ``thread``.
    """
    if concurrency < 1:
        raise ValidationError(f"concurrency must be at least 1, got {concurrency}")
    trajectories = _coerce(dataset)
    with events.span("extraction", _span_name(manager), _span_params(manager, concurrency, force),
                     data=trajectories) as span:  # engram.autolog(): one MLflow run; a no-op otherwise
        report = span.result = _process(manager, trajectories, values, concurrency, progress, force)
    return report


def _span_name(manager: Any) -> str:
    parts = getattr(getattr(manager, "namespace", None), "template", None)
    return "extraction:" + "/".join(map(str, parts)) if parts else "extraction"


def _span_params(manager: Any, concurrency: int, force: bool) -> dict[str, Any]:
    parts = getattr(getattr(manager, "namespace", None), "template", None) or ()
    return {"manager": type(manager).__name__, "concurrency": concurrency, "force": force,
            "namespace": "/".join(map(str, parts))}


def _process(manager: Any, trajectories: list[Any], values: Callable[[Any], dict] | dict | None,
             concurrency: int, progress: bool, force: bool) -> ProcessReport:
    from engram.lm import context_runner

    report = ProcessReport(total=len(trajectories))
    groups = _groups(manager, trajectories, values, report)
    bar = _progress(len(trajectories), progress)
    if bar is not None and report.failed:
        bar.update(report.failed)

    def run_group(group: list[tuple[Any, dict]]) -> list[tuple[Any, Any]]:
        outcomes = []
        for trajectory, vals in group:
            try:
                outcome: Any = manager.update(trajectory, vals, force=force)
            except Exception as err:  # noqa: BLE001 - reported in the report, never swallowed
                outcome = err
            outcomes.append((trajectory, outcome))
            if bar is not None:
                bar.update(1)
        return outcomes

    try:
        with ThreadPoolExecutor(max_workers=min(concurrency, max(1, len(groups)))) as pool:
            for outcomes in pool.map(context_runner(run_group), groups):
                for trajectory, outcome in outcomes:
                    _tally(report, trajectory, outcome)
    finally:
        if bar is not None:
            bar.close()
    return report


async def aprocess(manager: Any, dataset: Any, *, values: Callable[[Any], dict] | dict | None = None,
                   concurrency: int = 4, progress: bool = True, force: bool = False) -> ProcessReport:
    """Async :func:`process`: namespaces run as tasks, at most ``concurrency`` at once."""
    if concurrency < 1:
        raise ValidationError(f"concurrency must be at least 1, got {concurrency}")
    trajectories = _coerce(dataset)
    with events.span("extraction", _span_name(manager), _span_params(manager, concurrency, force),
                     data=trajectories) as span:
        report = span.result = await _aprocess(manager, trajectories, values, concurrency, progress, force)
    return report


async def _aprocess(manager: Any, trajectories: list[Any], values: Callable[[Any], dict] | dict | None,
                    concurrency: int, progress: bool, force: bool) -> ProcessReport:
    report = ProcessReport(total=len(trajectories))
    groups = _groups(manager, trajectories, values, report)
    bar = _progress(len(trajectories), progress)
    gate = asyncio.Semaphore(concurrency)

    async def run_group(group: list[tuple[Any, dict]]) -> None:
        async with gate:
            for trajectory, vals in group:
                try:
                    outcome: Any = await manager.aupdate(trajectory, vals, force=force)
                except Exception as err:  # noqa: BLE001 - reported in the report
                    outcome = err
                _tally(report, trajectory, outcome)
                if bar is not None:
                    bar.update(1)

    try:
        await asyncio.gather(*(run_group(g) for g in groups))
    finally:
        if bar is not None:
            bar.close()
    return report


__all__ = ["ProcessReport", "aprocess", "process"]
