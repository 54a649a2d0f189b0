"""MLflow for runs and sweeps: preflight, then :func:`engram.tracking.track_run` per experiment.

Runs, nesting, experiments and the tracking URI are :mod:`engram.tracking`'s job; the
runner adds what is particular to a batch run: before anything is written,
:meth:`RunTracker.preflight` makes sure the tracking store is reachable, so an unreachable
server fails fast naming the config key to fix instead of leaving a half-written run; a
resumed experiment continues its MLflow run; a pruned trial or Ctrl-C ends KILLED, not
FAILED. Everything is a no-op when ``tracking.enabled`` is false::

    tracker = RunTracker(config)
    tracker.preflight()
    tracker.check_registry()     # a run that registers its prompt
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
    from engram.tracking import Run

# Stopped on purpose (a pruned sweep trial, Ctrl-C): the run ends KILLED, not FAILED.
_STOPPED = ("TrialPruned", "KeyboardInterrupt")


class RunTracker:
    """MLflow tracking for one experiment config (a no-op when ``tracking.enabled`` is false)."""

    def __init__(self, config: ExperimentConfig):
        from engram.config import get_settings

        self.config = config
        self.enabled = config.tracking.enabled
        self.uri = config.tracking.uri or get_settings().resolved_tracking_uri
        self._run: Run | None = None  # the run of the innermost open `run()` block
        self._resumed = False

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

    def check_registry(self) -> None:
        """Refuse now what the registry step would refuse after all the work: a seed template
        that drops or adds a variable of the prompt's latest registered version (a
        :class:`ConfigError` at ``prompt.prompt.template`` naming
        ``prompt.registry.allow_variable_change``). Call it only for a run with a registry step."""
        from engram.runner._steps._prompt import seed_prompt

        cfg = self.config.prompt
        if (not self.enabled or cfg is None or not cfg.enabled or not cfg.registry.enabled
                or cfg.registry.allow_variable_change):
            return
        if self.uri.startswith("sqlite:///") and not Path(self.uri.removeprefix("sqlite:///")).exists():
            return  # a new store: nothing registered to conflict with
        from engram.errors import TemplateError
        from engram.prompts import check_variables
        from engram.tracking import PromptRegistry

        seed = seed_prompt(cfg)
        registry = PromptRegistry(self.config.tracking.uri)
        if seed.name not in registry.list():
            return
        history = registry.history(seed.name)  # newest first
        if not history or any(v.template == seed.template for v in history):
            return  # new, or an existing version is reused, not registered again
        try:
            check_variables(history[0].template, seed.template)
        except TemplateError as err:
            raise self.config.error(
                ("prompt", "prompt", "template"),
                f"prompt '{seed.name}' is registered, and against its latest version "
                f"({history[0].version}): {err} "
                f"Keep its variables, give the prompt another name, or set "
                f"prompt.registry.allow_variable_change: true if the change is intended") from None

    # -- runs ----------------------------------------------------------------------------------
    @contextmanager
    def run(self, *, run_id: str | None = None, name: str | None = None, nested: bool = False,
            parent_run_id: str | None = None, tags: dict[str, str] | None = None) -> Iterator[str | None]:
        """Start (or, with ``run_id``, continue) an MLflow run; yields its id (None when disabled).

        Inside another run of this tracker the new run nests under it (``nested`` is then
        implied); ``parent_run_id`` nests it under a run of another process.
        """
        if not self.enabled:
            yield None
            return
        from engram.tracking import track_run

        kind = "trial" if nested or parent_run_id else "experiment"
        with track_run(name or self.config.name, kind, tracking_uri=self.uri,
                       experiment=self.config.tracking.experiment, tags=tags, run_id=run_id,
                       parent_run_id=parent_run_id) as run:
            outer, self._run = self._run, run
            self._resumed = run_id is not None
            try:
                yield run.run_id
            except BaseException as err:
                if type(err).__name__ in _STOPPED:
                    import mlflow

                    mlflow.end_run("KILLED")
                raise
            finally:
                self._run = outer

    @property
    def _current(self) -> Run | None:
        return self._run if self.enabled else None

    def log_params(self, params: dict[str, Any]) -> None:
        """Parameters of a new run (a resumed run keeps those of its first attempt)."""
        run = self._current
        if run is not None and not self._resumed:
            run.log_params({k: v for k, v in params.items() if v is not None})

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        run = self._current
        numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        if run is not None and numeric:
            run.log_metrics(numeric, step=step)

    def set_tags(self, tags: dict[str, Any]) -> None:
        run = self._current
        if run is not None and tags:
            run.set_tags(tags)

    def log_artifacts(self, paths: list[Path], artifact_path: str | None = None) -> None:
        run = self._current
        if run is None:
            return
        for path in paths:
            if Path(path).is_file():
                run.client.log_artifact(run.run_id, str(path), artifact_path=artifact_path)


def child_env() -> dict[str, str]:
    """Environment for worker processes: LiteLLM must not fetch its cost map from the internet."""
    env = dict(os.environ)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    return env
