"""OpenAssistant conversation trees -> trajectories with human feedback.

Every path from a tree's root to a voted assistant reply is a real multi-turn
conversation whose last reply carries human feedback: its ``+1`` / ``-1`` /
``red_flag`` votes and its rank among sibling replies. Source: LAION-AI/Open-Assistant
``en_100_tree.jsonl`` (Apache-2.0)::

    ds = load_oasst("../shared/data/oasst_en_100_tree.jsonl")
    ds[0].feedback      # Feedback(score=0.83, label='thumbs_up', comment='3 up-votes ...')
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engram.errors import ValidationError
from engram.trajectories import Feedback, Message, Role, Trajectory, TrajectoryDataset

ROLE: dict[str, Role] = {"prompter": "user", "assistant": "assistant"}
SOURCE_NOTE = "OpenAssistant en_100_tree (LAION-AI/Open-Assistant, Apache-2.0)"


def votes_to_feedback(reply: dict[str, Any], siblings: int) -> Feedback | None:
    """Feedback from a reply's votes and rank, or None when it has neither.

    The score averages the smoothed vote share ``(up + 1) / (up + down + 2)`` and the rank
    position ``1 - rank / (siblings - 1)``; a red flag caps it at 0.1.
    """
    emojis = reply.get("emojis") or {}
    up, down, flags = emojis.get("+1", 0), emojis.get("-1", 0), emojis.get("red_flag", 0)
    rank = reply.get("rank")
    if not (up or down or flags) and rank is None:
        return None
    parts: list[float] = []
    if up or down:
        parts.append((up + 1) / (up + down + 2))
    if rank is not None and siblings > 1:
        parts.append(1 - rank / (siblings - 1))
    score = sum(parts) / len(parts) if parts else 0.5
    if flags:
        score = min(score, 0.1)
    label = "red_flag" if flags else "thumbs_up" if up > down else "thumbs_down" if down > up else None
    described = [f"{up} up-votes", f"{down} down-votes"]
    if flags:
        described.append(f"{flags} red flags")
    if rank is not None:
        described.append(f"rank {rank + 1} of {siblings} replies")
    return Feedback(score=round(score, 4), label=label, comment=", ".join(described), source="user",
                    extra={"up": up, "down": down, "red_flag": flags, "rank": rank, "siblings": siblings})


def _paths(node: dict[str, Any], prefix: list[dict[str, Any]]) -> Iterator[tuple[list[dict[str, Any]], int]]:
    path = prefix + [node]
    replies = [r for r in node.get("replies", []) if not r.get("deleted")]
    for reply in replies:
        if reply.get("role") == "assistant":
            yield path + [reply], len(replies)
        yield from _paths(reply, path)


def _dedupe_children(pairs: Iterator[tuple[list[dict[str, Any]], int]]):
    seen = set()
    for path, siblings in pairs:
        key = path[-1].get("message_id")
        if key in seen:
            continue
        seen.add(key)
        yield path, siblings


def load_oasst(path: str | Path) -> TrajectoryDataset:
    """Trajectories for every voted assistant reply in an OpenAssistant trees JSONL file."""
    path = Path(path)
    if not path.exists():
        raise ValidationError("file not found; pass the path to oasst_en_100_tree.jsonl", source=str(path))
    out: list[Trajectory] = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                tree = json.loads(line)
                root = tree["prompt"]
            except (json.JSONDecodeError, KeyError) as err:
                raise ValidationError(f"not an OpenAssistant tree: {err}", source=str(path), line=line_no) from None
            for chain, siblings in _dedupe_children(_paths(root, [])):
                feedback = votes_to_feedback(chain[-1], siblings)
                if feedback is None:
                    continue
                messages = [Message(role=ROLE[m["role"]], content=m["text"]) for m in chain]
                out.append(Trajectory(
                    id="oasst_" + chain[-1]["message_id"][:13],
                    messages=messages, feedback=feedback, thread=tree["message_tree_id"],
                    user=root.get("user_id") or tree["message_tree_id"],
                    tags=["oasst", chain[-1].get("lang", "en")],
                    metadata={"source": SOURCE_NOTE, "message_id": chain[-1]["message_id"],
                              "synthetic": bool(chain[-1].get("synthetic", False)),
                              "model_name": chain[-1].get("model_name")},
                ))
    return TrajectoryDataset(out, name="oasst_feedback")
