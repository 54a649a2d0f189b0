"""Tracking and shipping on MLflow: runs, the prompt registry, export, the production loader.

Names load on first use (MLflow is imported only by the parts that talk to it)::

    from engram.tracking import PromptRegistry, load_prompt, track_run, log_optimization
    with track_run("support-gradient", kind="optimization") as run:
        log_optimization(result, dataset=train)
    version = register_result(result, dataset=train, alias="staging")
    PromptRegistry().promote("support", version.version, "production")
    prompt = load_prompt("support@production")

Canary rollout, then a decision from the traffic's feedback (``engram prompts canary|compare``)::

    start_canary("support", 4, fraction=0.2, experiment="support-traffic")
    prompt = load_prompt("support@production", canary="support@candidate", fraction=0.2, key=user_id)
    print(compare_canary("support", auto=True).format())   # promote, roll back, or wait

``EngramPromptOptimizer`` runs engram's optimizers inside ``mlflow.genai.optimize_prompts``.
"""

from __future__ import annotations

from engram._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "PromptRegistry": "engram.tracking._registry",
    "PromptVersion": "engram.tracking._registry",
    "register": "engram.tracking._registry",
    "register_result": "engram.tracking._registry",
    "promote": "engram.tracking._registry",
    "rollback": "engram.tracking._registry",
    "DuplicateVersionError": "engram.tracking._registry",
    "history": "engram.tracking._registry",
    "diff": "engram.tracking._registry",
    "parse_ref": "engram.tracking._registry",
    "load_prompt": "engram.tracking._loader",
    "clear_cache": "engram.tracking._loader",
    "track_run": "engram.tracking._runs",
    "active_run": "engram.tracking._runs",
    "log_optimization": "engram.tracking._runs",
    "enable_dspy_autolog": "engram.tracking._runs",
    "autolog": "engram.tracking._autolog",
    "Run": "engram.tracking._runs",
    "export_prompt": "engram.tracking._export",
    "write_export": "engram.tracking._export",
    "load_export": "engram.tracking._export",
    "export_program": "engram.tracking._program_export",
    "ProgramExport": "engram.tracking._program_export",
    "traces_to_dataset": "engram.tracking._traces",
    "trace_to_trajectory": "engram.tracking._traces",
    "tag_current_trace": "engram.tracking._traces",
    "fluent_tracking_uri": "engram.tracking._runs",
    "in_canary": "engram.tracking._assign",
    "EngramPromptOptimizer": "engram.tracking._genai",
    "CanaryState": "engram.tracking._canary",
    "CanaryReport": "engram.tracking._canary",
    "start_canary": "engram.tracking._canary",
    "stop_canary": "engram.tracking._canary",
    "canary_status": "engram.tracking._canary",
    "compare_canary": "engram.tracking._canary",
}


__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
