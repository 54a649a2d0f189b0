"""MLflow for runs and sweeps: preflight, one run per experiment, nested runs per trial.

The runner talks to MLflow directly (it is the top layer); prompt versions go through
:mod:`engram.tracking`. Before anything is written, :meth:`RunTracker.preflight` makes
sure the tracking store is reachable, so an unreachable server fails fast with the key
to fix instead of leaving a half-written run::

    tracker = RunTracker(config)
    tracker.preflight()
    with tracker.run(run_id=None, name="quickstart") as run_id:
        tracker.log_metrics({"score_after": 0.8})
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engram.errors import TrackingError

if TYPE_CHECKING:
    from engram.runner._config import ExperimentConfig


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists become strings): MLflow params are flat."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
    else:
        out[prefix.rstrip(".")] = data if not isinstance(data, list) else ",".join(map(str, data))
    return out


class RunTracker:
    """MLflow tracking for one experiment config (a no-op when ``tracking.enabled`` is false)."""

    def __init__(self, config: ExperimentConfig):
        from engram.config import get_settings

        self.config = config
        self.enabled = config.tracking.enabled
        self.uri = config.tracking.uri or get_settings().resolved_tracking_uri

    # -- before anything is written ------------------------------------------------------------
    def preflight(self) -> None:
        """Raise :class:`TrackingError` (naming ``tracking.uri`` and its line) if MLflow is unreachable."""
        if not self.enabled:
            return
        key = ("tracking", "uri")
        line = self.config.source_map.line_of(key) if self.config.tracking.uri else None
        where = f"tracking.uri (line {line})" if line else "the tracking URI (ENGRAM_TRACKING_URI)"
        if self.uri.startswith(("http://", "https://")):
            try:
                with urllib.request.urlopen(self.uri.rstrip("/") + "/health",
                                            timeout=self.config.tracking.timeout_seconds) as response:
                    response.read(64)
            except (urllib.error.URLError, OSError, TimeoutError) as err:
                reason = getattr(err, "reason", err)
                raise TrackingError(
                    f"MLflow tracking server {self.uri} is unreachable ({reason}); start it "
                    f"(mlflow server --host 127.0.0.1 --port ...), fix {where}, or set "
                    f"tracking.enabled: false") from None
        elif self.uri.startswith("sqlite:///"):
            db = Path(self.uri.removeprefix("sqlite:///"))
            try:
                db.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise TrackingError(f"cannot create the MLflow database directory {db.parent} ({err}); "
                                    f"fix {where}") from None

    # -- runs ----------------------------------------------------------------------------------
    def _mlflow(self):
        # Only called inside run(), which points MLflow's fluent API at self.uri.
        import mlflow

        return mlflow

    @contextmanager
    def run(self, *, run_id: str | None = None, name: str | None = None, nested: bool = False,
            parent_run_id: str | None = None, tags: dict[str, str] | None = None) -> Iterator[str | None]:
        """Start (or, with ``run_id``, continue) an MLflow run; yields its id (None when disabled)."""
        if not self.enabled:
            yield None
            return
        from engram.tracking import fluent_tracking_uri

        mlflow = self._mlflow()
        # The run's URI and experiment are set for this block only (no mlflow.set_experiment):
        # after an engram run, the user's own MLflow calls go where they went before.
        with fluent_tracking_uri(self.uri):
            try:
                if run_id is not None:
                    active = mlflow.start_run(run_id=run_id)
                else:
                    experiment_id = self._ensure_experiment(mlflow)
                    active = mlflow.start_run(run_name=name, experiment_id=experiment_id, nested=nested,
                                              parent_run_id=parent_run_id, tags=tags)
            except TrackingError:
                raise
            except Exception as err:  # noqa: BLE001  (MLflow raises many types for one cause: no store)
                raise TrackingError(f"MLflow at {self.uri} refused to start a run: {err}; check "
                                    f"tracking.uri / ENGRAM_TRACKING_URI") from None
            status = "FAILED"
            try:
                yield active.info.run_id
                status = "FINISHED"
            except BaseException as err:
                # A pruned sweep trial or Ctrl-C is stopped on purpose, not a failure.
                status = "KILLED" if type(err).__name__ in ("TrialPruned", "KeyboardInterrupt") else "FAILED"
                raise
            finally:
                mlflow.end_run(status=status)

    def _ensure_experiment(self, mlflow: Any) -> str:
        """The experiment's id, creating it (artifacts beside a SQLite database, not in ./mlruns)."""
        name = self.config.tracking.experiment
        found = mlflow.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None
        if self.uri.startswith("sqlite:///"):
            location = (Path(self.uri.removeprefix("sqlite:///")).parent / "artifacts" / name).resolve().as_uri()
        try:
            return mlflow.create_experiment(name, artifact_location=location)
        except Exception:  # created meanwhile by another worker process
            found = mlflow.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def log_params(self, params: dict[str, Any]) -> None:
        if not self.enabled:
            return
        mlflow = self._mlflow()
        current = mlflow.active_run()
        logged = current.data.params if current is not None else {}
        # A resumed run already has its params; MLflow refuses to change a logged param.
        fresh = {k: str(v)[:500] for k, v in params.items() if k not in logged and v is not None}
        if fresh:
            mlflow.log_params(fresh)

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if not self.enabled:
            return
        numeric = {k: float(v) for k, v in metrics.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) or isinstance(v, bool)}
        if numeric:
            self._mlflow().log_metrics(numeric, step=step)

    def set_tags(self, tags: dict[str, Any]) -> None:
        if self.enabled and tags:
            self._mlflow().set_tags({k: str(v) for k, v in tags.items()})

    def log_artifacts(self, paths: list[Path], artifact_path: str | None = None) -> None:
        if not self.enabled:
            return
        mlflow = self._mlflow()
        for path in paths:
            if Path(path).is_file():
                mlflow.log_artifact(str(path), artifact_path=artifact_path)


def child_env() -> dict[str, str]:
    """Environment for worker processes: LiteLLM must not fetch its cost map from the internet."""
    env = dict(os.environ)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    return env
