"""Tracking and shipping on MLflow: runs, the prompt registry, export, the production loader.

Names load on first use (MLflow is imported only by the parts that talk to it)::

    from engram.tracking import PromptRegistry, load_prompt, track_run, log_optimization
    with track_run("support-gradient", kind="optimization") as run:
        log_optimization(result, dataset=train)
    version = register_result(result, dataset=train, alias="staging")
    PromptRegistry().promote("support", version.version, "production")
    prompt = load_prompt("support@production")
"""

from __future__ import annotations

from engram._lazy import lazy_exports

_LAZY: dict[str, str] = {
    "PromptRegistry": "engram.tracking.registry",
    "PromptVersion": "engram.tracking.registry",
    "register": "engram.tracking.registry",
    "register_result": "engram.tracking.registry",
    "promote": "engram.tracking.registry",
    "history": "engram.tracking.registry",
    "diff": "engram.tracking.registry",
    "parse_ref": "engram.tracking.registry",
    "load_prompt": "engram.tracking.loader",
    "clear_cache": "engram.tracking.loader",
    "track_run": "engram.tracking.runs",
    "active_run": "engram.tracking.runs",
    "log_optimization": "engram.tracking.runs",
    "enable_dspy_autolog": "engram.tracking.runs",
    "autolog": "engram.tracking.autolog",
    "Run": "engram.tracking.runs",
    "export_prompt": "engram.tracking.export",
    "write_export": "engram.tracking.export",
    "load_export": "engram.tracking.export",
    "export_program": "engram.tracking.program_export",
    "ProgramExport": "engram.tracking.program_export",
    "traces_to_dataset": "engram.tracking.traces",
    "trace_to_trajectory": "engram.tracking.traces",
    "tag_current_trace": "engram.tracking.traces",
}


__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
