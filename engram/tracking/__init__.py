"""Tracking and shipping on MLflow: runs, the prompt registry, export, the production loader.

Names load on first use (MLflow is imported only by the parts that talk to it)::

    from engram.tracking import PromptRegistry, load_prompt, track_run, log_optimization
    with track_run("support-gradient", kind="optimization") as run:
        log_optimization(result, dataset=train)
    version = register_result(result, dataset=train, alias="staging")
    PromptRegistry().promote("support", version.version, "production")
    prompt = load_prompt("support@production")

Canary rollout, then a decision from the traffic's feedback (``engram prompts canary|compare``)::

    start_canary("support", 2, fraction=0.2, experiment="support-traffic")
    prompt = load_prompt("support@production", canary="support@candidate", fraction=0.2, key="user-42")
    print(compare_canary("support", auto=True).format())   # promote, roll back, or wait

``EngramPromptOptimizer`` runs engram's optimizers inside ``mlflow.genai.optimize_prompts``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    "check_name": "engram.tracking._checks",
    "check_alias": "engram.tracking._checks",
    "load_prompt": "engram.tracking._loader",
    "clear_cache": "engram.tracking._loader",
    "track_run": "engram.tracking._runs",
    "active_run": "engram.tracking._runs",
    "log_optimization": "engram.tracking._runs",
    "enable_dspy_autolog": "engram.tracking._runs",
    "autolog": "engram.tracking._autolog",
    "Run": "engram.tracking._runs",
    "ExportFormat": "engram.tracking._export",
    "export_prompt": "engram.tracking._export",
    "write_export": "engram.tracking._export",
    "load_export": "engram.tracking._export",
    "export_program": "engram.tracking._program_export",
    "ProgramExport": "engram.tracking._program_export",
    "traces_to_dataset": "engram.tracking._traces",
    "trace_to_trajectory": "engram.tracking._traces",
    "tag_current_trace": "engram.tracking._traces",
    "fluent_tracking_uri": "engram.tracking._runs",
    "prompts_app": "engram.tracking._cli",
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

if not TYPE_CHECKING:  # checkers see the imports below instead of a catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time names load lazily
    from engram.tracking._assign import in_canary as in_canary
    from engram.tracking._autolog import autolog as autolog
    from engram.tracking._canary import (
        CanaryReport as CanaryReport,
        CanaryState as CanaryState,
        canary_status as canary_status,
        compare_canary as compare_canary,
        start_canary as start_canary,
        stop_canary as stop_canary,
    )
    from engram.tracking._checks import check_alias as check_alias, check_name as check_name
    from engram.tracking._cli import prompts_app as prompts_app
    from engram.tracking._export import (
        ExportFormat as ExportFormat,
        export_prompt as export_prompt,
        load_export as load_export,
        write_export as write_export,
    )
    from engram.tracking._genai import EngramPromptOptimizer as EngramPromptOptimizer
    from engram.tracking._loader import clear_cache as clear_cache, load_prompt as load_prompt
    from engram.tracking._program_export import (
        ProgramExport as ProgramExport,
        export_program as export_program,
    )
    from engram.tracking._registry import (
        DuplicateVersionError as DuplicateVersionError,
        PromptRegistry as PromptRegistry,
        PromptVersion as PromptVersion,
        diff as diff,
        history as history,
        parse_ref as parse_ref,
        promote as promote,
        register as register,
        register_result as register_result,
        rollback as rollback,
    )
    from engram.tracking._runs import (
        Run as Run,
        active_run as active_run,
        enable_dspy_autolog as enable_dspy_autolog,
        fluent_tracking_uri as fluent_tracking_uri,
        log_optimization as log_optimization,
        track_run as track_run,
    )
    from engram.tracking._traces import (
        tag_current_trace as tag_current_trace,
        trace_to_trajectory as trace_to_trajectory,
        traces_to_dataset as traces_to_dataset,
    )
