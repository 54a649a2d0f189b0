"""What a job does: apply a conversation with the memory manager, or optimize a prompt.

Both are safe to run again after a crash:

- extraction passes the job id as the trajectory id, so the manager's ledger skips a
  conversation it already applied (and its insert keys are derived from that id, so even a
  crash between the write and the ledger entry cannot duplicate a memory);
- optimization tags the version it registers with the job id and looks for that tag before
  registering, so a resumed job never registers twice.
"""

from __future__ import annotations

from typing import Any

from engram.errors import NotFoundError, ValidationError
from engram.serve._jobs import Job

JOB_TAG = "engram_serve_job"


def merge_messages(old: list[dict], new: list[dict]) -> list[dict]:
    """``old`` then what ``new`` adds; the longest suffix of ``old`` that starts ``new`` counts once
    (a client resending its growing history, or sending increments, both merge without loss)."""
    for overlap in range(min(len(old), len(new)), 0, -1):
        if old[len(old) - overlap:] == new[:overlap]:
            return [*old, *new[overlap:]]
    return [*old, *new]


def merge_extract(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {**old, "messages": merge_messages(old["messages"], new["messages"])}


def apply_conversation(store: Any, namespace: tuple[str, ...], messages: list[dict], trajectory_id: str,
                       tenant: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the memory manager on one conversation in a (scoped) namespace."""
    from engram.lm import track_usage
    from engram.modules import MemoryManager
    from engram.serve._service import record_out

    manager = MemoryManager(store, namespace=namespace)
    with track_usage() as usage:
        result = manager.update(messages, {}, trajectory_id=trajectory_id)
    return ({"written": [record_out(tenant, r) for r in result.written], "deleted": list(result.deleted),
             "rejected": len(result.rejected), "skipped": result.skipped,
             "already_applied": result.skipped}, usage.to_dict())


def run_extract(service: Any) -> Any:
    def handler(job: Job) -> tuple[dict[str, Any], dict[str, Any]]:
        p = job.payload
        return apply_conversation(service.store, tuple(p["store_namespace"]), p["messages"], f"job-{job.id}",
                                  job.tenant)

    return handler


def _prompt(service: Any, tenant: str, payload: dict[str, Any]) -> Any:
    from engram.prompts import Prompt
    from engram.serve._prompts import load_tenant_prompt
    from engram.serve._tenancy import prompt_ref

    if payload.get("prompt_name") and not payload.get("prompt"):
        return load_tenant_prompt(tenant, payload["prompt_name"], payload.get("alias") or "production")
    name = prompt_ref(tenant, payload.get("prompt_name") or "prompt")
    return Prompt(name=name, template=payload["prompt"])


def _trajectories(service: Any, tenant: str, payload: dict[str, Any]) -> Any:
    from engram.trajectories import TrajectoryDataset

    if payload.get("dataset"):
        return service.datasets.load(tenant, payload["dataset"])
    return TrajectoryDataset(payload["trajectories"], name="request")


def _registered(name: str, job_id: str) -> Any:
    from engram.tracking import PromptRegistry

    try:
        versions = PromptRegistry().history(name)
    except NotFoundError:
        return None
    return next((v for v in versions if v.tags.get(JOB_TAG) == job_id), None)


def run_optimize(service: Any) -> Any:
    def handler(job: Job) -> tuple[dict[str, Any], dict[str, Any]]:
        from engram.lm import track_usage
        from engram.optimizers import create_prompt_optimizer
        from engram.tracking import PromptRegistry, log_optimization, register_result, track_run

        p, tenant = job.payload, job.tenant
        prompt, data = _prompt(service, tenant, p), _trajectories(service, tenant, p)
        if len(data) == 0:
            raise ValidationError("the dataset is empty; send trajectories with feedback first.", field="dataset")
        settings = dict(p.get("optimizer") or {})
        kind = settings.pop("kind", "gradient")
        config = {k: v for k, v in settings.items() if v is not None}
        with track_usage() as usage:
            optimizer = create_prompt_optimizer(None, kind=kind, config=config)
            with track_run(f"serve-{tenant}-{kind}", kind="optimization", tags={JOB_TAG: job.id}) as run:
                result = optimizer(list(data), prompt)
                log_optimization(result, dataset=data)
                run_id = getattr(run, "run_id", None) or getattr(run, "id", None)
        out: dict[str, Any] = {"prompt": result.prompt.template if isinstance(result.prompt.template, str)
                               else str(result.prompt.template),
                               "improved": result.improved, "accepted": result.accepted,
                               "score_before": result.score_before, "score_after": result.score_after,
                               "optimizer": result.optimizer, "run_id": run_id, "version": None}
        if p.get("register") and p.get("prompt_name") and not result.improved:
            # The seed came back (nothing better, or the gate said no): there is no new version,
            # and registering the same template again would be refused as a duplicate.
            out["note"] = "the optimizer kept the original prompt; nothing was registered"
        elif p.get("register") and p.get("prompt_name"):
            version = _registered(prompt.name, job.id)
            if version is None:
                version = register_result(result, dataset=data, tags={JOB_TAG: job.id},
                                          commit_message=f"engram serve job {job.id}")
            if p.get("promote"):
                version = PromptRegistry().promote(prompt.name, version.version, p["promote"])
            out["version"] = version.version
        return out, usage.to_dict()

    return handler


__all__ = ["JOB_TAG", "apply_conversation", "merge_extract", "merge_messages", "run_extract", "run_optimize"]
