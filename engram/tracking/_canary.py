"""Canary rollout: serve a candidate version to a stable fraction of traffic, measure, decide.

The canary's state lives on the prompt in MLflow (alias ``candidate`` plus one tag), so the
app, the CLI and ``compare`` agree without another store::

    start_canary("support", 2, fraction=0.2, experiment="support-traffic")
    # the app, per request:
    load_prompt("support@production", canary="support@candidate", fraction=0.2, key="session-42")
    # later, or on a schedule:
    report = compare_canary("support", auto=True)     # promote, roll back, or wait
    print(report.format())

``compare`` reads the canary's traces and their feedback through :func:`traces_to_dataset`,
pairs the two versions within each user (a user whose sessions saw both), and compares them
with the gate's paired statistics. With ``auto=True`` it promotes when the interval's lower
bound clears ``threshold``, rolls back when its upper bound is below 0, and stops undecided
once ``budget`` traces have been read. Every call is recorded as an MLflow run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from engram.errors import NotFoundError, ValidationError
from engram.tracking._assign import check_fraction
from engram.tracking._checks import check_alias, check_name, check_version

if TYPE_CHECKING:
    from engram.trajectories import Trajectory, TrajectoryDataset

CANARY_STATE_TAG = "engram.canary_state"
CANARY_EXPERIMENT = "engram-canary"  # where decisions are recorded


class CanaryState(BaseModel):
    """A running canary: who is compared with whom, on what traffic, since when."""

    name: str
    control_alias: str
    control_version: int
    candidate_alias: str
    candidate_version: int
    fraction: float
    started_ms: int
    experiment: str

    @property
    def control_ref(self) -> str:
        return f"{self.name}@{self.control_alias}"

    @property
    def candidate_ref(self) -> str:
        return f"{self.name}@{self.candidate_alias}"


@dataclass
class CanaryReport:
    """What :func:`compare_canary` found and did."""

    state: CanaryState
    decision: str  # promote, rollback, undecided, continue
    reason: str
    control_traces: int
    candidate_traces: int
    comparison: Any = None  # the paired comparison (None with no pairs yet)
    pairs: int = 0
    run_id: str | None = None
    acted: bool = False
    per_unit: list[tuple[str, float, float]] = field(default_factory=list)

    def format(self) -> str:
        s = self.state
        lines = [(f"canary {s.name}: @{s.control_alias}=v{s.control_version} (control) vs "
                  f"@{s.candidate_alias}=v{s.candidate_version} (candidate) at {s.fraction:.0%}, experiment "
                  f"'{s.experiment}'"),
                 (f"traces with feedback: control {self.control_traces}, candidate {self.candidate_traces}; "
                  f"users seen on both: {self.pairs}")]
        if self.comparison is not None:
            lines.append(f"paired by user: {self.comparison.summary()}")
        lines.append(f"decision: {self.decision}{' (applied)' if self.acted else ''}: {self.reason}")
        if self.run_id:
            lines.append(f"recorded as MLflow run {self.run_id}")
        return "\n".join(lines)


def _registry(tracking_uri: str | None):
    from engram.tracking._registry import PromptRegistry

    return PromptRegistry(tracking_uri)


def canary_status(name: str, *, tracking_uri: str | None = None) -> CanaryState | None:
    """The running canary of prompt ``name``, or None."""
    from engram.tracking._backend import mlflow_errors

    registry = _registry(tracking_uri)
    check_name(name)
    with mlflow_errors(registry.uri, f"reading prompt '{name}'"):
        prompt = registry.client.get_prompt(name)
    if prompt is None:
        registry.versions(name)  # raises NotFoundError naming the known prompts
    raw = (prompt.tags or {}).get(CANARY_STATE_TAG)
    return CanaryState.model_validate_json(raw) if raw else None


def start_canary(name: str, version: int | str, *, fraction: float = 0.1, control: str = "production",
                 candidate_alias: str = "candidate", experiment: str = "Default",
                 tracking_uri: str | None = None) -> CanaryState:
    """Point ``candidate_alias`` at ``version`` and record the canary on the prompt (and as a run)."""
    check_name(name)
    check_alias(control)
    check_alias(candidate_alias)
    fraction = check_fraction(fraction)
    if not isinstance(experiment, str) or not experiment.strip():
        raise ValidationError("experiment must name the MLflow experiment your app's traces go to.")
    registry = _registry(tracking_uri)
    version = check_version(version)
    control_version = registry.aliases(name).get(control)
    if control_version is None:
        raise NotFoundError(f"Prompt '{name}' has no alias '{control}' to compare against; promote a version "
                            f"first: `engram prompts promote {name} <version> {control}`.")
    if control_version == version:
        raise ValidationError(f"Version {version} is already '{name}@{control}'; a canary needs another version.")
    running = canary_status(name, tracking_uri=tracking_uri)
    if running is not None:
        raise ValidationError(f"A canary of '{name}' (v{running.candidate_version}) is already running; stop it "
                              f"first with `engram prompts canary stop {name}`.")
    registry.load(f"{name}/{version}")
    state = CanaryState(name=name, control_alias=control, control_version=control_version,
                        candidate_alias=candidate_alias, candidate_version=version, fraction=fraction,
                        started_ms=int(time.time() * 1000), experiment=experiment)
    from engram.tracking._backend import mlflow_errors

    registry.promote(name, version, candidate_alias)
    with mlflow_errors(registry.uri, f"starting the canary of '{name}'"):
        registry.client.set_prompt_tag(name, CANARY_STATE_TAG, state.model_dump_json())
    record_decision(state, "start", f"canary of v{version} at {fraction:.0%} started", registry.uri)
    return state


def stop_canary(name: str, *, reason: str = "stopped by hand", tracking_uri: str | None = None) -> CanaryState:
    """End the canary: the candidate alias is removed, so every key gets the control again."""
    state = _running(name, tracking_uri)
    registry = _registry(tracking_uri)
    _end(state, registry)
    record_decision(state, "stop", reason, registry.uri)
    return state


def _running(name: str, tracking_uri: str | None) -> CanaryState:
    state = canary_status(name, tracking_uri=tracking_uri)
    if state is None:
        raise NotFoundError(f"No canary of '{name}' is running; start one with "
                            f"`engram prompts canary start {name} <version> --fraction 0.1`.")
    return state


def _end(state: CanaryState, registry: Any) -> None:
    from engram.tracking._backend import mlflow_errors

    if state.candidate_alias in registry.aliases(state.name):
        registry.delete_alias(state.name, state.candidate_alias)
    with mlflow_errors(registry.uri, f"stopping the canary of '{state.name}'"):
        registry.client.delete_prompt_tag(state.name, CANARY_STATE_TAG)


def record_decision(state: CanaryState | None, decision: str, reason: str, uri: str, *,
                    metrics: dict[str, float | None] | None = None, text: str | None = None,
                    name: str | None = None) -> str:
    """An MLflow run (experiment ``engram-canary``) recording one rollout decision; returns its id."""
    from engram.tracking._runs import track_run

    params = state.model_dump() if state is not None else {}
    with track_run(f"{decision}:{name or (state.name if state else '?')}", kind="rollout", params=params,
                   tracking_uri=uri, experiment=CANARY_EXPERIMENT,
                   tags={"engram.decision": decision, "engram.reason": reason[:5000]}) as run:
        if metrics:
            run.log_metrics(metrics)
        if text:
            run.log_text(text, "compare.txt")
        return run.run_id


def _scores_by_unit(dataset: Any, state: CanaryState) -> tuple[dict[str, dict[str, list[float]]], int, int]:
    arms = {str(state.control_version): "control", str(state.candidate_version): "candidate"}
    units: dict[str, dict[str, list[float]]] = {}
    counts = {"control": 0, "candidate": 0}
    for t in dataset:
        arm = arms.get(str(t.prompt_version))
        if arm is None or t.feedback is None or t.feedback.score is None:
            continue
        counts[arm] += 1
        unit = t.user or t.thread or t.id
        units.setdefault(unit, {"control": [], "candidate": []})[arm].append(float(t.feedback.score))
    return units, counts["control"], counts["candidate"]


def compare_canary(name: str, *, auto: bool = False, threshold: float = 0.0, min_samples: int = 10,
                   budget: int | None = None, experiment: str | None = None, feedback_name: str | None = None,
                   tracking_uri: str | None = None, confidence: float = 0.95) -> CanaryReport:
    """Compare the canary's two versions on the traffic since it started (see the module docstring)."""
    from engram.optimizers import paired_comparison as paired
    from engram.tracking._traces import traces_to_dataset

    if not isinstance(min_samples, int) or isinstance(min_samples, bool) or min_samples < 2:
        raise ValidationError(f"min_samples must be a whole number of 2 or more, got {min_samples!r}.")
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool) or budget < 1):
        raise ValidationError(f"budget must be a positive number of traces, got {budget!r}.")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ValidationError(f"threshold must be a number (the gain a promotion needs), got {threshold!r}.")
    state = _running(name, tracking_uri)
    registry = _registry(tracking_uri)
    where = experiment or state.experiment
    dataset: TrajectoryDataset | list[Trajectory]
    missing: str | None
    try:
        dataset = traces_to_dataset(where, tracking_uri=registry.uri, feedback_name=feedback_name,
                                    max_traces=max(budget or 0, 10_000),
                                    filter_string=f"trace.timestamp_ms >= {state.started_ms}")
    except NotFoundError:  # no trace has reached the experiment yet (or its name is wrong: said below)
        dataset, missing = [], where
    else:
        missing = None
    units, n_control, n_candidate = _scores_by_unit(dataset, state)
    both = sorted(u for u, arms in units.items() if arms["control"] and arms["candidate"])
    per_unit = [(u, sum(units[u]["control"]) / len(units[u]["control"]),
                 sum(units[u]["candidate"]) / len(units[u]["candidate"])) for u in both]
    comparison = paired([c for _, c, _ in per_unit], [k for _, _, k in per_unit],
                        confidence=confidence) if len(per_unit) >= 2 else None
    spent = budget is not None and n_control + n_candidate >= budget
    if comparison is None or len(per_unit) < min_samples:
        if spent:
            decision, reason = "undecided", (f"only {len(per_unit)} users on both versions after the budget of "
                                             f"{budget} traces")
        else:
            decision, reason = "continue", f"{len(per_unit)} of the {min_samples} users needed on both versions"
            if missing is not None:
                reason += f" (the experiment '{missing}' does not exist yet: no traffic, or a wrong name)"
    elif comparison.lower > threshold:
        decision, reason = "promote", f"the gain's lower bound {comparison.lower:+.3f} is above {threshold:+.3f}"
    elif comparison.upper < 0:
        decision, reason = "rollback", f"the gain's upper bound {comparison.upper:+.3f} is below 0"
    elif spent:
        decision, reason = "undecided", (f"the interval [{comparison.lower:+.3f}, {comparison.upper:+.3f}] still "
                                         f"holds both {threshold:+.3f} and 0 after the budget of {budget} traces")
    else:
        decision, reason = "continue", (f"the interval [{comparison.lower:+.3f}, {comparison.upper:+.3f}] holds "
                                        f"both {threshold:+.3f} and 0; more traffic needed")
    report = CanaryReport(state, decision, reason, n_control, n_candidate, comparison, len(per_unit),
                          per_unit=per_unit)
    if auto and decision in ("promote", "rollback", "undecided"):
        if decision == "promote":
            registry.promote(name, state.candidate_version, state.control_alias)
        _end(state, registry)
        report.acted = True
    metrics: dict[str, float] = {"pairs": len(per_unit), "control_traces": n_control, "candidate_traces": n_candidate}
    if comparison is not None:
        metrics.update({"gain": comparison.gain, "ci_lower": comparison.lower, "ci_upper": comparison.upper})
    report.run_id = record_decision(state, decision, reason, registry.uri, text=report.format() + "\n",
                                    metrics={k: v for k, v in metrics.items() if v is not None and
                                             json.dumps(v) not in ("Infinity", "-Infinity", "NaN")})
    return report
