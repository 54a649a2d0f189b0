"""The retrieval step: index LoCoMo conversations as message archives and measure recall@k.

No LM calls: it measures the store's ranking (dense + BM25 + neighbouring turns) on the
questions' evidence turns. The work is done by the store's LoCoMo evaluation
(``engram.memory.archive``); this step runs it and records recall_any@k per category.
"""

from __future__ import annotations

from typing import Any

from engram.runner.steps.base import StepContext, StepOutcome, StepUnavailable, require


def run_retrieval_step(ctx: StepContext, lms: dict[str, Any]) -> StepOutcome:
    cfg = ctx.config.retrieval
    archive = require("engram.memory.archive", "the conversation archive")
    evaluate = getattr(archive, "evaluate_locomo", None)
    if evaluate is None:
        raise StepUnavailable("the store has no LoCoMo evaluation (engram.memory.archive.evaluate_locomo); "
                              "disable retrieval in the config or update engram")
    with ctx.metered():
        result = evaluate(cfg.path, k=cfg.k, limit=cfg.limit_conversations)
    metrics = {key: round(float(value), 3) for key, value in dict(result).items()
               if isinstance(value, (int, float))}
    top = max(cfg.k)
    headline = metrics.get(f"recall_any@{top}")
    return StepOutcome(metrics=metrics, output={"headline": f"recall_any@{top} = {headline}"})
