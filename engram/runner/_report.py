"""The results of a run as tables: per-step results (pandas -> CSV, Markdown) and the summary (rich).

    frame = results_frame(records)
    write_results(frame, run_dir)            # results.csv, results.md
    print_summary(summary, console)          # the table `engram run` ends with
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engram.lm import OFFLINE_PREFIX

STAND_IN = "offline stand-in, not a model"
SIMULATED_SCORES = ("the steps ran: offline stand-ins scored their own simple world; not optimization "
                    "quality (see benchmarks/optimization_quality.py, a simulation)")

COLUMNS = ["step", "status", "calls", "prompt_tokens", "completion_tokens", "tokens", "cost", "seconds",
           "details", "note"]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def results_frame(records: list[dict[str, Any]]):
    """One row per step: status, LM usage, wall time, its metrics (``k=v``) and a note."""
    import pandas as pd

    rows = []
    for r in records:
        usage = r.get("usage") or {}
        rows.append({
            "step": r["step"], "status": r["status"],
            "calls": int(usage.get("calls", 0)),
            "prompt_tokens": int(usage.get("prompt_tokens", 0)),
            "completion_tokens": int(usage.get("completion_tokens", 0)),
            "tokens": int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0)),
            "cost": float(usage.get("cost") or 0.0),
            "seconds": round(float(r.get("seconds", 0.0)), 2),
            "details": ", ".join(f"{k}={_fmt(v)}" for k, v in (r.get("metrics") or {}).items()
                                 if v is not None),
            "note": r.get("note", ""),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def write_results(frame, out_dir: Path) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``results.md`` into ``out_dir``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / "results.csv", out_dir / "results.md"
    frame.to_csv(csv_path, index=False)
    md_path.write_text(frame.to_markdown(index=False) + "\n", encoding="utf-8")
    return csv_path, md_path


def lm_label(name: str | None) -> str:
    """An LM name as shown to people: offline stand-ins are labeled as such."""
    if name is None:
        return "(not configured)"
    return f"{name} ({STAND_IN})" if name.startswith(OFFLINE_PREFIX) else name


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary as (label, value) rows, in reading order; absent entries are left out."""
    def score(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    rows = [("experiment", summary.get("experiment", "")), ("MLflow run", summary.get("run_id") or "(tracking off)")]
    for role in ("task", "reflection", "judge"):
        name = summary.get("lms", {}).get(role)
        if name is not None:  # a run without LM steps (retrieval) needs none
            rows.append((f"{role} LM", lm_label(name)))
    if "train" in summary:
        rows.append(("trajectories", f"{summary['train']} train / {summary['validation']} held out"))
    if "memories_written" in summary:
        rows.append(("memories written", str(summary["memories_written"])))
    if "memories_in_store" in summary:
        rows.append(("memories in store", str(summary["memories_in_store"])))
    if "score_before" in summary:
        rows.append(("score before (held-out)", score(summary.get("score_before"))))
        rows.append(("score after (held-out)", score(summary.get("score_after"))))
        rows.append(("prompt accepted", "yes" if summary.get("accepted") else "no (seed kept)"))
        if summary.get("stand_in"):
            # Stand-ins play and judge their own simple world: the scores show that the steps ran
            # end to end, and say nothing about how well an optimizer does (issue 10).
            rows.append(("scores mean", SIMULATED_SCORES))
    if summary.get("versions"):
        rows.append(("prompt versions", summary["versions"]))
    if summary.get("exported"):
        rows.append(("exported", ", ".join(summary["exported"])))
    for key, label in (("judge_agreement", "judge agreement (held-out)"), ("recall", "retrieval recall")):
        if key in summary:
            rows.append((label, str(summary[key])))
    rows.append(("LM calls", str(summary.get("calls", 0))))
    tokens = (f"{summary.get('tokens', 0)} ({summary.get('prompt_tokens', 0)} prompt + "
              f"{summary.get('completion_tokens', 0)} completion)")
    rows.append(("tokens", tokens))
    if summary.get("cost_known", True):
        rows.append(("cost", f"${summary.get('cost', 0.0):.4f}"))
    else:  # LiteLLM has no price for a model: do not print a made-up $0
        rows.append(("cost", "unknown (no price for this model in LiteLLM's cost map)"))
    for step, reason in (summary.get("unavailable") or {}).items():
        rows.append((f"{step}: UNAVAILABLE", reason))
    for step, reason in (summary.get("failures") or {}).items():
        rows.append((f"{step}: FAILED", reason))
    if summary.get("resumed"):
        rows.append(("resumed", "yes: finished steps were skipped (" + ", ".join(summary["resumed"]) + ")"))
    rows.append(("outputs", str(summary.get("run_dir", ""))))
    return rows


def print_summary(summary: dict[str, Any], console: Any = None) -> None:
    """Print the summary as a two-column rich table."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"engram run: {summary.get('experiment', '')}", show_header=True,
                  header_style="bold")
    table.add_column("", style="bold")
    table.add_column("value")
    for label, value in summary_rows(summary):
        table.add_row(label, value)
    console.print(table)
