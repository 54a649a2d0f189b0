"""A finished sweep as tables and a plot: all trials, the Pareto front (rich, CSV, Markdown), pareto.png."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engram.errors import EngramError
from engram.runner._pruning import PARTIAL_ATTR


@dataclass
class SweepResult:
    """The study's outcome: every trial, the Pareto front, and where the plot went."""

    study_name: str
    storage: str
    trials: Any  # pandas.DataFrame
    pareto: Any  # pandas.DataFrame
    plot: Path | None
    run_id: str | None = None
    files: list[Path] = field(default_factory=list)

    def pick(self, *, max_cost: float | None = None) -> dict[str, Any]:
        """The Pareto trial with the best score whose cost is within ``max_cost`` (cheapest on ties)."""
        front = self.pareto if max_cost is None else self.pareto[self.pareto["cost"] <= max_cost]
        if not len(front):
            raise EngramError(f"No Pareto trial costs at most {max_cost}; raise max_cost.")
        return front.sort_values(["score", "cost"], ascending=[False, True]).iloc[0].to_dict()


def trials_frame(study: Any):
    """One row per trial: number, state, score, cost, the sampled parameters, the prompt it made."""
    import pandas as pd

    rows = []
    for t in study.get_trials(deepcopy=False):
        values = t.values or [None, None]
        rows.append({"trial": t.number, "state": t.state.name.lower(), "score": values[0], "cost": values[1],
                     **t.params, "partial_scores": t.user_attrs.get(PARTIAL_ATTR),
                     "template": t.user_attrs.get("template")})
    return pd.DataFrame(rows)


def pareto_frame(study: Any):
    """The Pareto-optimal trials (best score for their cost), best score first."""
    import pandas as pd

    rows = [{"trial": t.number, "score": round(t.values[0], 4), "cost": t.values[1], **t.params,
             "template": t.user_attrs.get("template")} for t in study.best_trials]
    frame = pd.DataFrame(rows)
    return frame.sort_values(["score", "cost"], ascending=[False, True]).reset_index(drop=True) if rows else frame


def pareto_plot(study: Any, path: Path, cost_name: str) -> Path | None:
    import warnings

    import matplotlib.pyplot as plt
    import optuna

    if not study.best_trials:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = optuna.visualization.matplotlib.plot_pareto_front(
            study, target_names=["held-out score", cost_name])
    ax.figure.set_size_inches(6, 4)
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=110)
    plt.close(ax.figure)  # optuna draws through pyplot: close so a notebook does not show it twice
    return path


def print_front(pareto: Any, trials: Any, console: Any, *, title: str) -> None:
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    columns = [c for c in pareto.columns if c != "template"]
    short = {c: c.split(".")[-1] for c in columns}
    if len(set(short.values())) < len(short):  # keep full names when the last parts clash
        short = {c: c for c in columns}
    for column in columns:
        table.add_column(short[column], justify="right" if column in ("trial", "score", "cost") else "left")
    for _, row in pareto.iterrows():
        table.add_row(*[f"{row[c]:.3f}" if isinstance(row[c], float) and c == "score" else str(row[c])
                        for c in columns])
    console.print(table)
    counts = trials["state"].value_counts().to_dict() if len(trials) else {}
    console.print("trials: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))


def report_sweep(config: Any, study: Any, url: str, run_dir: Path, tracker: Any, run_id: str | None,
                 console: Any, *, show: bool = True) -> SweepResult:
    trials = trials_frame(study)
    pareto = pareto_frame(study)
    files = []
    for name, frame in (("trials", trials), ("pareto", pareto)):
        frame.to_csv(run_dir / f"{name}.csv", index=False)
        shown = frame.drop(columns=["template"], errors="ignore")
        (run_dir / f"{name}.md").write_text(shown.to_markdown(index=False) + "\n", encoding="utf-8")
        files += [run_dir / f"{name}.csv", run_dir / f"{name}.md"]
    plot = pareto_plot(study, run_dir / "pareto.png", f"cost ({config.sweep.cost})")
    if plot is not None:
        files.append(plot)
    if show:
        print_front(pareto, trials, console,
                                 title=f"Pareto front: {study.study_name} (score up, {config.sweep.cost} down)")
    tracker.log_metrics({"trials": len(trials), "pareto_size": len(pareto),
                         "best_score": float(pareto["score"].max()) if len(pareto) else 0.0})
    tracker.log_artifacts(files)
    return SweepResult(study_name=study.study_name, storage=url, trials=trials, pareto=pareto, plot=plot,
                       run_id=run_id, files=files)
