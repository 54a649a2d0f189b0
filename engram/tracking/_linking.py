"""Link a served prompt version to the active MLflow trace, as ``mlflow.genai.load_prompt`` does.

MLflow's own ``load_prompt`` registers the version with the trace being recorded (so the
exported trace carries the ``mlflow.linkedPrompts`` tag and the trace-to-prompt link that
``search_traces(filter_string='prompt = "name/1"')`` reads) and notes it on the active span.
engram's loader serves from its cache or a fallback file without asking MLflow, so it does
the same linking itself, and adds tags saying where the version came from::

    with mlflow.start_span("chat"):
        prompt = engram.load_prompt("support@production")   # linked, tagged source=cache|...

This module never imports MLflow: with no MLflow imported there can be no active trace.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from engram.prompts import Prompt, to_mlflow_template

log = logging.getLogger("engram.tracking")

PROMPT_NAME_TAG = "engram.prompt_name"
PROMPT_VERSION_TAG = "engram.prompt_version"
PROMPT_SOURCE_TAG = "engram.prompt_source"  # registry, cache, stale or fallback
CANARY_ARM_TAG = "engram.canary.arm"  # control or candidate
CANARY_TAG = "engram.canary"  # the candidate reference of the canary that assigned the arm


def link_to_active_trace(prompt: Prompt, source: str, extra_tags: dict[str, str] | None = None) -> bool:
    """Link ``prompt`` to the active trace (if any) and tag its source; True when linked.

    A failure to link is logged, never raised: serving the prompt matters more.
    """
    if "mlflow" not in sys.modules or not prompt.version or not str(prompt.version).isdigit():
        return False
    import mlflow

    try:
        trace_id = mlflow.get_active_trace_id()
        if trace_id is None:
            return False
        version = _prompt_version(prompt, int(prompt.version))
        # The registration mlflow.genai.load_prompt makes: the exporter writes the
        # mlflow.linkedPrompts tag and the trace-prompt association from it.
        from mlflow.tracing.trace_manager import InMemoryTraceManager
        from mlflow.tracing.utils.prompt import update_linked_prompts_tag

        InMemoryTraceManager.get_instance().register_prompt(trace_id=trace_id, prompt=version)
        span = mlflow.get_current_active_span()
        if span is not None:
            span.set_attribute("mlflow.linkedPrompts",
                               update_linked_prompts_tag(span.attributes.get("mlflow.linkedPrompts"), [version]))
        mlflow.update_current_trace(tags={PROMPT_NAME_TAG: prompt.name, PROMPT_VERSION_TAG: str(prompt.version),
                                          PROMPT_SOURCE_TAG: source, **(extra_tags or {})})
        return True
    except Exception as err:  # noqa: BLE001  (linking is bookkeeping; the prompt is still served)
        log.warning("could not link prompt '%s' version %s to the active trace: %s: %s",
                    prompt.name, prompt.version, type(err).__name__, err)
        return False


def _prompt_version(prompt: Prompt, number: int) -> Any:
    from mlflow.entities.model_registry import PromptVersion

    template = to_mlflow_template(prompt.template)
    if isinstance(template, list):
        template = [{"role": m["role"], "content": m["content"]} for m in template]
    return PromptVersion(name=prompt.name, version=number, template=template)
