"""The memory step: extract memories from the training trajectories into the Chroma store.

Trajectories are processed in chunks (``memory.chunk_size``) with the memory manager's
bounded concurrency; after each chunk the processed trajectory ids are checkpointed, so
a resumed run skips them. A trajectory whose chunk was interrupted is processed again;
the manager recognizes trajectories it has already applied (their ids are in the
memories' provenance), so nothing is written twice.
"""

from __future__ import annotations

from typing import Any

from engram.runner.steps.base import StepContext, StepOutcome, require

STEP = "memory"


def open_store(ctx: StepContext) -> Any:
    """The persistent Chroma store this run writes to (``memory.store_path`` or ``<run_dir>/chroma``)."""
    store_mod = require("engram.memory.store", "the memory store")
    path = ctx.config.memory.store_path or ctx.run_dir / "chroma"
    return store_mod.MemoryStore.persistent(path)


def build_manager(ctx: StepContext, store: Any, lms: dict[str, Any]) -> Any:
    modules = require("engram.modules", "the memory modules")
    manager_cls = getattr(modules, "MemoryManager", None)
    if manager_cls is None:
        manager_cls = require("engram.modules.manager", "the memory manager").MemoryManager
    cfg = ctx.config.memory
    options: dict[str, Any] = {"lm": lms["task"]}
    if cfg.instructions:
        options["instructions"] = cfg.instructions
    return manager_cls(store, tuple(cfg.namespace), **options)


def count_memories(store: Any, prefix: tuple[str, ...]) -> int:
    """Live memories in every namespace under ``prefix`` (the template's fixed leading parts)."""
    return sum(store.count(ns) for ns in store.list_namespaces(prefix=prefix or None))


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
    prefix = _fixed_prefix(cfg.namespace)
    trajectories = list(ctx.train)
    by_id = {t.id: t for t in trajectories}
    pending = ctx.checkpoint.pending(STEP, by_id)
    state = ctx.checkpoint.state(STEP)
    ops = dict(state.get("operations", {}))
    failed: list[str] = list(state.get("failed", []))
    task = ctx.progress.task("memory extraction", total=len(trajectories),
                             completed=len(trajectories) - len(pending))
    for start in range(0, len(pending), cfg.chunk_size):
        chunk = [by_id[i] for i in pending[start:start + cfg.chunk_size]]
        with ctx.metered():
            report = manager.process(TrajectoryDataset(chunk), concurrency=cfg.concurrency,
                                     progress=False)
        for key, value in _operation_counts(report).items():
            ops[key] = ops.get(key, 0) + value
        failed.extend(_failures(report))
        ctx.checkpoint.add_items(STEP, [t.id for t in chunk], state={"operations": ops, "failed": failed})
        ctx.progress.advance(task, len(chunk))
        ctx.budget.check(f"memory extraction ({len(ctx.checkpoint.items(STEP))}/{len(trajectories)})")
    in_store = count_memories(store, prefix)
    written = ops.get("insert", 0) + ops.get("update", 0)
    return StepOutcome(
        metrics={"memories_written": written, "memories_in_store": in_store,
                 "trajectories": len(trajectories), "failed": len(failed), **{f"ops_{k}": v for k, v in ops.items()}},
        output={"store": str(ctx.config.memory.store_path or ctx.run_dir / "chroma"),
                "namespace": list(cfg.namespace), "memories_in_store": in_store, "failed": failed},
        note=f"{len(failed)} trajectories failed (see checkpoint)" if failed else "",
    )


def _operation_counts(report: Any) -> dict[str, int]:
    """insert / update / delete counts from the manager's report (adapter; see MemoryManager.process)."""
    counts = getattr(report, "operations", None)
    if isinstance(counts, dict):
        return {str(k): int(v) for k, v in counts.items()}
    return {}


def _failures(report: Any) -> list[str]:
    failures = getattr(report, "failed", None) or getattr(report, "errors", None) or []
    return [str(f) for f in failures]
