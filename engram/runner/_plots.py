"""Plots of a run (matplotlib): score by round, before / after, cost.

Figures are built with :class:`matplotlib.figure.Figure` and written straight to PNG, not
through pyplot: no display is needed (servers, CI) and a notebook's inline backend is
left alone.

Each function writes a PNG and returns its path, or None when there is nothing to draw::

    score_by_round(rounds, out_dir / "score_by_round.png")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _figure(width: float, height: float, ncols: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots(1, ncols)


def round_scores(rounds: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """(round, score of the prompt in force after it), round 0 = seed: what the plot draws and
    what the run logs as ``round_score``, so the two never disagree."""
    scored = [r for r in rounds if r.get("score_before") is not None]
    if not scored:
        return []
    best = scored[0]["score_before"]
    out = [(0, best)]
    for r in rounds:
        if r.get("accepted") and r.get("score_after") is not None:
            best = r["score_after"]
        out.append((r["round"], best))
    return out


def score_by_round(rounds: list[dict[str, Any]], path: Path, *, title: str = "Held-out score by round") -> Path | None:
    """Score of the accepted prompt after each optimization round (round 0 = seed)."""
    series = round_scores(rounds)
    if not series:
        return None
    xs, ys = [x for x, _ in series], [y for _, y in series]
    marks = ["seed"]
    for r in rounds:
        if r.get("accepted"):
            marks.append("accepted")
        else:  # a candidate that lost at the gate, or a round that proposed nothing
            marks.append("rejected" if r.get("score_after") is not None else "no change")
    fig, ax = _figure(5, 3.2)
    ax.plot(xs, ys, marker="o", color="#3366aa")
    for x, y, mark in zip(xs, ys, marks):
        ax.annotate(mark, (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
    ax.set_xlabel("round")
    ax.set_ylabel("judged score (held-out)")
    ax.set_xticks(xs)
    ax.set_ylim(0, 1.12)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def before_after(before: float | None, after: float | None, path: Path, *, label: str = "prompt") -> Path | None:
    """Two bars: the held-out score of the seed prompt and of the one kept."""
    if before is None or after is None:
        return None
    fig, ax = _figure(4, 3.2)
    bars = ax.bar(["before", "after"], [before, after], color=["#999999", "#2e8b57"])
    ax.bar_label(bars, fmt="%.2f")
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("judged score (held-out)")
    ax.set_title(f"{label}: before / after")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def cost_by_step(table: Any, path: Path) -> Path | None:
    """LM calls and tokens per step (from the results table)."""
    rows = table[table["calls"] > 0] if len(table) else table
    if not len(rows):
        return None
    fig, (left, right) = _figure(7, 3.2, ncols=2)
    left.bar(rows["step"], rows["calls"], color="#3366aa")
    left.set_title("LM calls")
    right.bar(rows["step"], rows["tokens"], color="#aa6633")
    right.set_title("tokens")
    for ax in (left, right):
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle("Cost by step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
