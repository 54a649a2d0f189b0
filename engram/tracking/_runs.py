"""MLflow runs for optimizations, compiles, batch extractions and sweeps.

Wrap any work in :func:`track_run`; runs opened inside another become nested (a sweep
and its trials)::

    with track_run("support-gradient", kind="optimization", params={"steps": 3}) as run:
        result = optimizer(dataset, prompt)
        log_optimization(result, dataset=dataset)      # scores, usage, diff, critiques, candidates
    run.run_id

``mlflow.dspy.autolog()`` logs into the active run, so DSPy compiles inside ``track_run``
land in the same run (see :func:`enable_dspy_autolog`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engram.tracking._backend import mlflow_client, mlflow_errors, resolve_uri
from engram.tracking._results import log_result

if TYPE_CHECKING:
    from engram.lm import Usage
    from engram.optimizers import OptimizationResult
    from engram.trajectories import TrajectoryDataset

DEFAULT_EXPERIMENT = "engram"
SAMPLE_SIZE = 20
_uri_lock = threading.RLock()
_depth = 0
_saved_uri: tuple[bool, str | None] = (False, None)  # set by the outermost track_run


def _experiment_id(uri: str, name: str) -> str:
    client = mlflow_client(uri)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):
        # Keep artifacts next to the database instead of ./mlruns in whatever the cwd is.
        location = (Path(uri[len("sqlite:///"):]).parent / "artifacts" / name).resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # created meanwhile by another process
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


class Run:
    """The run :func:`track_run` yields: log to it, or read ``run_id``."""

    def __init__(self, run_id: str, uri: str):
        self.run_id = run_id
        self.uri = uri

    @property
    def client(self):
        return mlflow_client(self.uri)

    def log_params(self, params: dict[str, Any]) -> None:
        """Parameters (values as text, long ones cut to MLflow's 6000-character limit)."""
        with mlflow_errors(self.uri, "logging parameters"):
            for key, value in _flatten(params).items():
                self.client.log_param(self.run_id, key, _param_text(value))

    def log_metrics(self, metrics: Mapping[str, float | None], step: int | None = None) -> None:
        """Numeric metrics; None values are skipped.

        A value already logged at the same step (a resumed run logging again) is not
        logged twice, so a metric's history shows each step once.
        """
        with mlflow_errors(self.uri, "logging metrics"):
            for key, value in metrics.items():
                if value is None:
                    continue
                if any(m.step == (step or 0) for m in self.client.get_metric_history(self.run_id, key)):
                    continue
                self.client.log_metric(self.run_id, key, float(value), step=step or 0)

    def log_text(self, text: str, path: str) -> None:
        with mlflow_errors(self.uri, f"logging artifact {path}"):
            self.client.log_text(self.run_id, text, path)

    def log_dict(self, data: Any, path: str) -> None:
        with mlflow_errors(self.uri, f"logging artifact {path}"):
            self.client.log_dict(self.run_id, data, path)

    def log_table(self, frame: Any, path: str) -> None:
        """A pandas DataFrame as an MLflow table artifact (``.json``, viewable in the UI)."""
        with mlflow_errors(self.uri, f"logging table {path}"):
            self.client.log_table(self.run_id, data=frame, artifact_file=path)

    def set_tags(self, tags: dict[str, Any]) -> None:
        with mlflow_errors(self.uri, "setting tags"):
            for key, value in tags.items():
                self.client.set_tag(self.run_id, key, str(value))

    def log_usage(self, usage: Usage, prefix: str = "lm_") -> None:
        """LM calls, tokens and cost (:class:`engram.lm.Usage`) as metrics."""
        self.log_metrics({f"{prefix}calls": usage.calls, f"{prefix}prompt_tokens": usage.prompt_tokens,
                          f"{prefix}completion_tokens": usage.completion_tokens,
                          f"{prefix}total_tokens": usage.total_tokens, f"{prefix}cost": usage.cost})

    def log_lms(self, lms: dict[str, Any] | None = None, *, used: Any = None) -> None:
        """Which LM played each role and whether it is an offline stand-in (params and tags).

        ``lms`` maps a role ("task", "reflection", "judge") to an LM or its name; roles left
        out are read from engram's configuration. ``used`` (a :class:`engram.lm.Usage`) adds
        the models that actually answered. A run made with a stand-in says so in the tag
        ``engram.stand_in`` (and ``engram.lm.<role>.stand_in``), so no figure passes for a model's.
        Example::

            with track_run("support-gradient", kind="optimization") as run:
                run.log_lms({"task": "offline/support"})   # lm.task=offline/support, engram.stand_in=true
        """
        names = {role: lm_name(lm) for role, lm in (lms or {}).items()}
        for role in ("task", "reflection", "judge"):
            if role not in names:
                names[role] = configured_lm_name(role)
        models = sorted(getattr(used, "by_model", None) or {})
        params = {f"lm.{role}": name or "(not configured)" for role, name in names.items()}
        if models:
            params["lm.models_used"] = ",".join(models)
        # A resumed run keeps its first values: MLflow refuses to change a logged param.
        logged = self.client.get_run(self.run_id).data.params
        self.log_params({k: v for k, v in params.items() if k not in logged})
        stand_ins = {role: is_stand_in(name) for role, name in names.items() if name}
        self.set_tags({**{f"engram.lm.{role}.stand_in": str(flag).lower() for role, flag in stand_ins.items()},
                       "engram.stand_in": str(any(stand_ins.values()) or any(map(is_stand_in, models))).lower()})

    def log_trajectory_sample(self, dataset: TrajectoryDataset, n: int = SAMPLE_SIZE,
                              path: str = "trajectories_sample.jsonl") -> None:
        """The first ``n`` trajectories (JSONL) plus the dataset's size and hash as parameters."""
        lines = [json.dumps(t.to_record(), ensure_ascii=False) for t in list(dataset)[:n]]
        self.log_text("\n".join(lines) + "\n", path)
        self.log_params({"dataset_size": len(dataset), "dataset_hash": dataset.fingerprint,
                         "dataset_name": dataset.name or ""})

    def log_program(self, program: Any, path: str = "program") -> None:
        """A DSPy program's state (``dump_state``) and its exported messages, as artifacts."""
        from engram.tracking._program_export import export_program

        self.log_dict(program.dump_state(), f"{path}/state.json")
        self.log_text(export_program(program).to_json(), f"{path}/messages.json")


def lm_name(lm: Any) -> str | None:
    """An LM's model name (``dspy.LM.model``), or the name itself."""
    if lm is None or isinstance(lm, str):
        return lm
    return str(getattr(lm, "model", None) or type(lm).__name__)


def configured_lm_name(role: str) -> str | None:
    """The model engram would use for ``role`` now (None when nothing is configured)."""
    from engram.errors import EngramError
    from engram.lm import get_lm

    try:
        return lm_name(get_lm(role))  # type: ignore[arg-type]
    except EngramError:
        return None


def is_stand_in(name: str | None) -> bool:
    from engram.lm import OFFLINE_PREFIX

    return bool(name) and str(name).startswith(OFFLINE_PREFIX)


def _flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str) if isinstance(
        value, (list, tuple)) else str(value)
    return text[:6000]


def _current_uri_setting() -> tuple[bool, str | None]:
    """Whether the user set a tracking URI, and ``MLFLOW_TRACKING_URI`` (public MLflow API only)."""
    import mlflow

    return mlflow.tracking.is_tracking_uri_set(), os.environ.get("MLFLOW_TRACKING_URI")


def _restore_uri_setting(saved: tuple[bool, str | None]) -> None:
    import mlflow

    was_set, env = saved
    # set_tracking_uri(None) unsets both MLflow's global URI and MLFLOW_TRACKING_URI; a URI
    # the user had set (mlflow.set_tracking_uri also writes the variable) comes back through
    # the variable, which get_tracking_uri() reads when no global URI is set.
    mlflow.set_tracking_uri(None)
    if was_set and env is not None:
        os.environ["MLFLOW_TRACKING_URI"] = env


@contextmanager
def track_run(name: str, kind: str = "optimization", params: dict[str, Any] | None = None, *,
              tracking_uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT,
              tags: dict[str, Any] | None = None, run_id: str | None = None,
              parent_run_id: str | None = None) -> Iterator[Run]:
    """An MLflow run around a block; nested when another engram/MLflow run is active.

    Inside a run the caller started with ``mlflow.start_run()`` the new run nests under it,
    in the caller's tracking store; otherwise it goes to ``tracking_uri`` (default: engram's).

    The run ends FINISHED, or FAILED (with the error as a tag) if the block raises.
    ``kind`` is "optimization", "compile", "extraction", "sweep", "trial"... (tag ``engram.kind``).
    ``run_id`` continues an existing run (a resumed experiment or job; metrics it already holds at a step
    are not logged again, see :meth:`Run.log_metrics`); ``parent_run_id`` nests the
    new run under a run another process started (a sweep worker's trials).
    """
    global _depth, _saved_uri
    import mlflow

    with _uri_lock:
        if _depth == 0:
            _saved_uri = _current_uri_setting()
            # Inside the caller's own mlflow.start_run(), nest under it, in its store.
            uri = mlflow.get_tracking_uri() if mlflow.active_run() and not tracking_uri \
                else resolve_uri(tracking_uri)
            # The fluent API (and so mlflow.dspy.autolog) logs to the global URI: point it here
            # for the run, and put it back afterwards.
            mlflow.set_tracking_uri(uri)
        else:
            uri = mlflow.get_tracking_uri()
        _depth += 1
    try:
        with mlflow_errors(uri, f"starting run '{name}'"):
            parent = mlflow.active_run()
            if run_id is not None:
                active = mlflow.start_run(run_id=run_id, nested=parent is not None)
            else:
                experiment_id = parent.info.experiment_id if parent else _experiment_id(uri, experiment)
                active = mlflow.start_run(run_name=name, experiment_id=experiment_id, nested=parent is not None,
                                          parent_run_id=None if parent else parent_run_id,
                                          tags={"engram.kind": kind,
                                                **{k: str(v) for k, v in (tags or {}).items()}})
        with active:
            run = Run(active.info.run_id, uri)
            if params:
                logged = run.client.get_run(run.run_id).data.params if run_id is not None else {}
                run.log_params({k: v for k, v in _flatten(params).items() if k not in logged})
            try:
                yield run
            except BaseException as err:
                run.set_tags({"engram.error": f"{type(err).__name__}: {err}"[:5000]})
                raise
    finally:
        with _uri_lock:
            _depth -= 1
            if _depth == 0:
                _restore_uri_setting(_saved_uri)


@contextmanager
def fluent_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (``mlflow.log_*``, autolog) at ``uri`` for the block.

    The caller's own setting (global URI and ``MLFLOW_TRACKING_URI``) is put back afterwards,
    so using engram never redirects the user's later ``mlflow.start_run()``.
    """
    import mlflow

    saved = _current_uri_setting()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        _restore_uri_setting(saved)


def active_run() -> Run | None:
    """The engram run of the current block (None outside :func:`track_run`)."""
    if _depth == 0:
        return None
    import mlflow

    current = mlflow.active_run()
    return Run(current.info.run_id, mlflow.get_tracking_uri()) if current else None


def log_optimization(result: OptimizationResult, dataset: TrajectoryDataset | None = None,
                     params: dict[str, Any] | None = None, *, name: str | None = None,
                     tracking_uri: str | None = None) -> str:
    """Log an optimization result into the active run (or a new one); returns the run id.

    Parameters: optimizer, prompt, versions, dataset size and hash. Metrics: scores before and
    after, improvement, steps, candidates, errors, LM calls / tokens / cost. Artifacts: the
    prompt diff, both prompts, critiques, rationale, the candidates table, a trajectory sample.
    """
    run = active_run()
    if run is None:
        with track_run(name or f"{result.optimizer}:{result.prompt.name}", "optimization",
                       tracking_uri=tracking_uri) as run:
            log_result(run, result, dataset, params)
            return run.run_id
    log_result(run, result, dataset, params)
    return run.run_id


def enable_dspy_autolog(**kwargs: Any) -> None:
    """``mlflow.dspy.autolog(**kwargs)`` after importing engram's optimizers.

    autolog patches ``compile`` only on the direct ``dspy.Teleprompter`` subclasses that exist
    when it is called, so import every optimizer first. Call it again after defining your own.
    """
    import pkgutil

    import dspy.teleprompt  # noqa: F401  (DSPy's own optimizers)

    try:
        import engram.optimizers as package
        from engram._lazy import import_module

        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            try:
                import_module(info.name)
            except ImportError:  # an optional part that is not installed
                continue
    except ImportError:
        pass
    import mlflow

    mlflow.dspy.autolog(**kwargs)
