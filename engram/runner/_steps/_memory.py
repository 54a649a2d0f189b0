"""The memory step: extract memories from the trajectories into the Chroma store.

The store is ``memory.store_path`` if set, else the Chroma server of ``ENGRAM_CHROMA_URL``
(the multi-process setup), else ``<run_dir>/chroma``. Trajectories are processed in
chunks (``memory.chunk_size``) with the memory manager's bounded concurrency; after each
chunk the ids the manager *applied* (or found already applied) are checkpointed. A failed
trajectory is not: the step ends failed, nothing after it runs (no prompt is promoted),
and the next run retries it. With ``memory.shard`` (``engram run --shard i/n``) only the
trajectories of this shard's namespaces are processed, assigned by ``memory.shard_by``
(``--shard-by``): the plan (:func:`engram.modules.shard_plan`) is computed once over the
whole dataset, never per chunk, and its fingerprint is logged and kept in the step's note:
with ``load`` every shard must show the same one. An LM that can never answer (no key, auth error, unknown
model) stops the step at once; other failures stop it after
``budget.max_consecutive_failures`` in a row. A trajectory whose chunk was interrupted is
processed again; the manager recognizes trajectories it already applied (their ids are
in the memories' provenance), so nothing is written twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engram.runner._lms import is_fatal
from engram.runner._steps._base import MemoryOutput, StepContext, StepFailed, StepOutcome

if TYPE_CHECKING:
    from engram.modules import MemoryManager, ProcessReport
    from engram.store import MemoryStore

STEP = "memory"


def store_location(ctx: StepContext) -> str:
    """Where this run's memories live: a directory or a Chroma server URL."""
    from engram.config import get_settings

    cfg = ctx.config.memory
    if cfg.store_path is not None:
        return str(cfg.store_path)
    return get_settings().chroma_url or str(ctx.run_dir / "chroma")


def open_store(ctx: StepContext) -> MemoryStore:
    """The store of :func:`store_location` (a server URL opens an HTTP client)."""
    from engram.store import MemoryStore

    where = store_location(ctx)
    if where.startswith(("http://", "https://")):
        return MemoryStore.http(where)
    return MemoryStore.persistent(where)


def build_manager(ctx: StepContext, store: MemoryStore, lms: dict[str, Any]) -> MemoryManager:
    from engram.modules import MemoryManager

    cfg = ctx.config.memory
    return MemoryManager(store, tuple(cfg.namespace), lm=lms["task"], instructions=cfg.instructions or "")


def count_memories(store: MemoryStore, namespace: list[str]) -> int:
    """Live memories in the namespaces the template fills (the manager's ledgers are not memories)."""
    prefix = _fixed_prefix(namespace)
    found = store.list_namespaces(prefix=prefix or None)
    return sum(store.count(ns) for ns in found if len(ns) == len(namespace))


def _when(trajectory: Any) -> tuple[int, float]:
    time = getattr(trajectory, "time", None)
    return (0, 0.0) if time is None else (1, time.timestamp())


def _namespace(manager: Any, trajectory: Any) -> tuple[str, ...] | None:
    from engram.modules import trajectory_values

    try:
        return tuple(manager.namespace.fill(trajectory_values(trajectory)))
    except Exception:  # noqa: BLE001 - unfillable: the manager reports it as a failure itself
        return None


def _shard_part(ctx: StepContext, manager: Any, trajectories: list[Any], shard: tuple[int, int]
                ) -> tuple[list[Any], str]:
    """This shard's trajectories under the plan of the whole dataset, and a note naming the plan."""
    from engram.modules import shard_plan

    cfg = ctx.config.memory
    index, count = shard
    plan = shard_plan(manager, trajectories, count, shard_by=cfg.shard_by)
    mine = [t for t in trajectories if plan.trajectory_shards[t.id] == index]
    note = f"shard {index}/{count} of {plan}"
    if cfg.shard_by == "load":  # the plan is only right if every shard loaded the same dataset
        note += "; every shard must show this plan"
    ctx.log(f"memory: {note}")
    return mine, note


def _fixed_prefix(namespace: list[str]) -> tuple[str, ...]:
    prefix = []
    for part in namespace:
        if "{" in part:
            break
        prefix.append(part)
    return tuple(prefix)


def run_memory_step(ctx: StepContext, lms: dict[str, Any]) -> StepOutcome:
    from engram.trajectories import TrajectoryDataset

    cfg = ctx.config.memory
    limit = ctx.config.budget.max_consecutive_failures
    store = open_store(ctx)
    manager = build_manager(ctx, store, lms)
    # Memories come from every trajectory (the split only matters to the prompt gate).
    trajectories = list(ctx.dataset or ctx.train or [])
    note = ""
    if cfg.shard is not None:  # this process's namespaces only (engram run --shard i/n)
        trajectories, note = _shard_part(ctx, manager, trajectories, cfg.shard)
    by_id = {t.id: t for t in trajectories}
    pending = ctx.checkpoint.pending(STEP, by_id)
    state = ctx.checkpoint.state(STEP)
    if "store_before" not in state:  # what was there before this run's first chunk, kept durably
        state["store_before"] = count_memories(store, cfg.namespace)
        ctx.checkpoint.set_state(STEP, state)
    counts = dict(state.get("counts", {}))
    failed: dict[str, str] = {}
    in_a_row = 0
    task = ctx.progress.task("memory extraction", total=len(trajectories),
                             completed=len(trajectories) - len(pending))
    # A namespace is an ordered log: once one of its trajectories is not done, its later ones
    # wait for the next run (held), or an old fact would be applied after a newer one.
    pending = sorted(pending, key=lambda tid: _when(by_id[tid]))
    stuck: set[tuple[str, ...] | None] = set()
    for start in range(0, len(pending), cfg.chunk_size):
        chunk = [by_id[i] for i in pending[start:start + cfg.chunk_size]]
        runnable = [t for t in chunk if _namespace(manager, t) not in stuck]
        held = len(chunk) - len(runnable)
        report = None
        if runnable:
            with ctx.metered():
                # already this shard's: a plan of one chunk would not be the plan of the dataset
                report = manager.process(TrajectoryDataset(runnable), concurrency=cfg.concurrency,
                                         progress=False)
        chunk_failed = dict(report.failures) if report is not None else {}
        failed.update(chunk_failed)
        done = set(report.done_ids) if report is not None else set()
        stuck.update(_namespace(manager, t) for t in runnable if t.id not in done)
        if report is not None:
            for key, value in _counts(report).items():
                counts[key] = counts.get(key, 0) + value
        counts["held"] = counts.get("held", 0) + held
        # Only what was applied (now or before) is done; failed and blocked ones stay pending.
        ctx.checkpoint.add_items(STEP, [t.id for t in runnable if t.id in done],
                                 state={**state, "counts": counts})
        ctx.progress.advance(task, len(done))
        # Failures in a row: a chunk in which nothing got done extends the run of failures.
        in_a_row = in_a_row + len(chunk_failed) if not done else len(chunk_failed)
        fatal = next((error for error in chunk_failed.values() if is_fatal(error)), None)
        if fatal is not None:
            raise StepFailed(f"the task LM cannot answer ({_short(fatal)}); fix lms.task / ENGRAM_LM and its "
                             f"API key, then re-run (applied trajectories are checkpointed)")
        if in_a_row >= limit:
            raise StepFailed(f"{in_a_row} trajectories failed in a row (budget.max_consecutive_failures="
                             f"{limit}), the last with: {_short(next(reversed(chunk_failed.values())))}; "
                             f"re-run to retry them (applied trajectories are checkpointed)")
        ctx.budget.check(f"memory extraction ({len(ctx.checkpoint.items(STEP))}/{len(trajectories)})")
    if failed or stuck:
        if not failed:
            raise StepFailed(f"{len(pending) - len(ctx.checkpoint.items(STEP))} trajectories were held "
                             "behind an earlier failure of their namespace; re-run to apply them in order")
        first_id, first_error = next(iter(failed.items()))
        raise StepFailed(f"{len(failed)} of {len(pending)} trajectories failed (first: {first_id}: "
                         f"{_short(first_error)}); re-run to retry them (the others are checkpointed)")
    in_store = count_memories(store, cfg.namespace)
    written = in_store - int(state["store_before"])
    return StepOutcome(
        metrics={"memories_written": written, "memories_in_store": in_store,
                 "versions_written": counts.get("written", 0), "deleted": counts.get("deleted", 0),
                 "trajectories": len(trajectories), "applied": counts.get("applied", 0),
                 "skipped": counts.get("skipped", 0)},
        output=MemoryOutput(store=store_location(ctx), namespace=list(cfg.namespace),
                            memories_in_store=in_store, memories_written=written),
        note=note,
    )


def _short(error: str, limit: int = 300) -> str:
    text = " ".join(error.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _counts(report: ProcessReport) -> dict[str, int]:
    """Versions written / ids deleted / trajectories applied or skipped, from a ProcessReport."""
    results = [r for r in report.results if r is not None]
    return {"written": sum(len(r.written) for r in results), "deleted": sum(len(r.deleted) for r in results),
            "applied": report.applied, "skipped": report.skipped}
