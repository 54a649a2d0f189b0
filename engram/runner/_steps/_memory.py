"""The memory step: extract memories from the training trajectories into the Chroma store.

Trajectories are processed in chunks (``memory.chunk_size``) with the memory manager's
bounded concurrency; after each chunk the processed trajectory ids are checkpointed, so
a resumed run skips them. A trajectory whose chunk was interrupted is processed again;
the manager recognizes trajectories it has already applied (their ids are in the
memories' provenance), so nothing is written twice.
"""

from __future__ import annotations

from typing import Any

from engram.runner._steps._base import StepContext, StepOutcome, require

STEP = "memory"


def open_store(ctx: StepContext) -> Any:
    """The persistent Chroma store this run writes to (``memory.store_path`` or ``<run_dir>/chroma``)."""
    store_mod = require("engram.store._store", "the memory store")
    path = ctx.config.memory.store_path or ctx.run_dir / "chroma"
    return store_mod.MemoryStore.persistent(path)


def build_manager(ctx: StepContext, store: Any, lms: dict[str, Any]) -> Any:
    manager_mod = require("engram.modules._manager", "the memory manager")
    cfg = ctx.config.memory
    return manager_mod.MemoryManager(store, tuple(cfg.namespace), lm=lms["task"],
                                     instructions=cfg.instructions or "")


def count_memories(store: Any, namespace: list[str]) -> int:
    """Live memories in the namespaces the template fills (the manager's ledgers are not memories)."""
    prefix = _fixed_prefix(namespace)
    found = store.list_namespaces(prefix=prefix or None)
    return sum(store.count(ns) for ns in found if len(ns) == len(namespace))


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
    store = open_store(ctx)
    manager = build_manager(ctx, store, lms)
    # Memories come from every trajectory (the split only matters to the prompt gate).
    trajectories = list(ctx.dataset if ctx.dataset is not None else ctx.train)
    by_id = {t.id: t for t in trajectories}
    pending = ctx.checkpoint.pending(STEP, by_id)
    state = ctx.checkpoint.state(STEP)
    counts = dict(state.get("counts", {}))
    failed: list[str] = list(state.get("failed", []))
    task = ctx.progress.task("memory extraction", total=len(trajectories),
                             completed=len(trajectories) - len(pending))
    for start in range(0, len(pending), cfg.chunk_size):
        chunk = [by_id[i] for i in pending[start:start + cfg.chunk_size]]
        with ctx.metered():
            report = manager.process(TrajectoryDataset(chunk), concurrency=cfg.concurrency,
                                     progress=False)
        for key, value in _counts(report).items():
            counts[key] = counts.get(key, 0) + value
        failed.extend(f"{tid}: {error}" for tid, error in report.failures)
        ctx.checkpoint.add_items(STEP, [t.id for t in chunk], state={"counts": counts, "failed": failed})
        ctx.progress.advance(task, len(chunk))
        ctx.budget.check(f"memory extraction ({len(ctx.checkpoint.items(STEP))}/{len(trajectories)})")
    in_store = count_memories(store, cfg.namespace)
    return StepOutcome(
        metrics={"memories_written": counts.get("written", 0), "memories_in_store": in_store,
                 "deleted": counts.get("deleted", 0), "trajectories": len(trajectories),
                 "applied": counts.get("applied", 0), "skipped": counts.get("skipped", 0),
                 "failed": len(failed)},
        output={"store": str(ctx.config.memory.store_path or ctx.run_dir / "chroma"),
                "namespace": list(cfg.namespace), "memories_in_store": in_store, "failed": failed},
        note=f"{len(failed)} trajectories failed (see checkpoint)" if failed else "",
    )


def _counts(report: Any) -> dict[str, int]:
    """Versions written / ids deleted / trajectories applied or skipped, from a ProcessReport."""
    results = [r for r in report.results if r is not None]
    return {"written": sum(len(r.written) for r in results), "deleted": sum(len(r.deleted) for r in results),
            "applied": report.applied, "skipped": report.skipped}
