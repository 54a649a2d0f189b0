"""The compile step: compile the feedback judge on labeled trajectories, report held-out agreement.

The judge is what the gate scores candidates with, so its agreement with real user
feedback says how far to trust the gate. It is compiled with DSPy's BootstrapFewShot
(:func:`engram.optimizers.compile_judge`) and saved next to the run.
"""

from __future__ import annotations

from typing import Any

from engram.runner._steps._base import CompileOutput, StepContext, StepOutcome


def run_compile_step(ctx: StepContext, lms: dict[str, Any]) -> StepOutcome:
    from engram.optimizers import compile_judge

    cfg = ctx.config.compile
    labeled = [t for t in list(ctx.train_split()) + list(ctx.validation or []) if t.score is not None]
    prompt = ctx.config.prompt.prompt.template if ctx.config.prompt is not None else None
    split = ctx.config.required_dataset().split
    with ctx.metered():
        report = compile_judge(labeled, prompt=prompt, lm=lms["judge"],
                               val_fraction=split.val_fraction, seed=split.seed, **cfg.settings)
    path = ctx.run_dir / "compiled_judge.json"
    report.judge.save(str(path))
    ctx.budget.check("compile")

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    metrics = {"agreement_val": rounded(report.agreement_val),
               "agreement_val_uncompiled": rounded(report.agreement_val_uncompiled),
               "agreement_train": rounded(report.agreement_train),
               "train_size": report.train_size, "val_size": report.val_size}
    return StepOutcome(metrics=metrics, artifacts=[path],
                       output=CompileOutput(path=str(path),
                                            agreement=f"{_pct(report.agreement_val)} compiled vs "
                                                      f"{_pct(report.agreement_val_uncompiled)} uncompiled"))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"
