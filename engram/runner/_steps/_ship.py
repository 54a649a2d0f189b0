"""Shipping steps: register seed (v1) and optimized (v2) prompts in MLflow, set the alias, export.

Registration is idempotent so a resumed run never adds a duplicate version: a template
that is already the latest version (or, for the seed, any version) is reused, not
registered again. Each registration is checkpointed as soon as it succeeds.
"""

from __future__ import annotations

from typing import Any

from engram.runner._steps._base import (
    ExportOutput,
    PromptOutput,
    RegistryOutput,
    StepContext,
    StepOutcome,
    StepUnavailable,
)
from engram.runner._steps._prompt import seed_prompt


def _prompt_output(ctx: StepContext) -> PromptOutput:
    output = ctx.outputs.prompt
    if output is None:
        raise StepUnavailable("needs the prompt step's result, which is unavailable in this run")
    return output


def run_registry_step(ctx: StepContext, lms: dict[str, Any]) -> StepOutcome:
    """Register v1 (seed) and, if the gate accepted one, v2 (optimized); point the alias at the newest."""
    from engram.tracking import PromptRegistry

    output = _prompt_output(ctx)
    cfg = ctx.config.required_prompt()
    seed = seed_prompt(cfg)
    registry = PromptRegistry(ctx.config.tracking.uri)
    state = ctx.checkpoint.state("registry")

    existing = []
    if seed.name in registry.list():
        existing = registry.history(seed.name)  # newest first
    if "seed_version" not in state:
        same = next((v for v in existing if v.template == seed.template), None)
        seed_version = same.version if same else registry.register(
            seed.name, seed, "seed prompt (from the experiment config)",
            tags={"engram.experiment": ctx.config.name, "source": "seed"},
            allow_variable_change=cfg.registry.allow_variable_change).version
        state["seed_version"] = seed_version
        ctx.checkpoint.add_items("registry", ["seed"], state=state)
    versions = [state["seed_version"]]
    if output.changed and "optimized_version" not in state:
        latest = registry.load(seed.name)
        if latest.template == output.template:
            state["optimized_version"] = latest.version
        else:
            optimized = seed.with_template(output.template)
            tags = {"optimizer": cfg.optimizer.kind, "score_before": output.score_before,
                    "score_after": output.score_after, "engram.experiment": ctx.config.name,
                    "dataset_hash": _dataset_hash(ctx)}
            message = (f"{cfg.optimizer.kind} optimization: held-out score "
                       f"{_score(output.score_before)} -> {_score(output.score_after)}")
            state["optimized_version"] = registry.register(
                seed.name, optimized, message, tags={k: v for k, v in tags.items() if v is not None},
                parent_version=state["seed_version"],
                allow_variable_change=cfg.registry.allow_variable_change).version
        ctx.checkpoint.add_items("registry", ["optimized"], state=state)
    if "optimized_version" in state:
        versions.append(state["optimized_version"])
    alias = cfg.registry.alias
    if alias:
        registry.promote(seed.name, versions[-1], alias)
    arrow = " -> ".join(f"v{v}" for v in versions)
    summary = f"{seed.name} {arrow}" + (f" (@{alias} = v{versions[-1]})" if alias else "")
    return StepOutcome(metrics={"versions": len(versions), "promoted": versions[-1] if alias else None},
                       output=RegistryOutput(name=seed.name, versions=versions, alias=alias, summary=summary,
                                             uri=f"prompts:/{seed.name}/{versions[-1]}"))


def _dataset_hash(ctx: StepContext) -> str | None:
    from engram.trajectories import TrajectoryDataset

    if ctx.train is None:
        return None
    return TrajectoryDataset(list(ctx.train) + list(ctx.validation or [])).fingerprint


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def run_export_step(ctx: StepContext, lms: dict[str, Any]) -> StepOutcome:
    """Write the kept prompt in every configured format (JSON / YAML also serve as loader fallbacks)."""
    from engram.tracking import write_export

    output = _prompt_output(ctx)
    cfg = ctx.config.required_prompt()
    registry = ctx.outputs.registry
    prompt = seed_prompt(cfg).with_template(output.template)
    if registry is not None:
        prompt = prompt.model_copy(update={"version": str(registry.versions[-1])})
    out_dir = cfg.export.dir or ctx.run_dir / "export"
    suffix = {"json": ".json", "yaml": ".yaml", "text": ".txt", "openai": ".openai.json", "python": ".py"}
    files = []
    for fmt in cfg.export.formats:
        path = write_export(prompt, out_dir / f"{prompt.name}{suffix[fmt]}", fmt)
        files.append(path)
    return StepOutcome(metrics={"files": len(files)},
                       output=ExportOutput(files=[str(p) for p in files], dir=str(out_dir)),
                       artifacts=files)
