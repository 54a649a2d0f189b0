"""LoCoMo retrieval evaluation over the memory store's conversation archive (no LM calls).

Each LoCoMo conversation is archived in its own namespace as ``kind="message"`` records
(one per turn, ``"Speaker: text"`` plus the image caption, with conversation / session /
turn ids in metadata); each question is answered by ``store.search(..., kind="message")``
in its own conversation, and a hit at k means an evidence turn is in the top k. Reported
over categories 1-4 (5 is adversarial: no answer exists)::

    convs = load_locomo_conversations(Path("../shared/data/locomo10.json"))
    hits = evaluate_conversation(store, convs[0], k=[1, 5, 10])
    summarize(hits, k=[1, 5, 10])["recall_any@10"]
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engram.errors import ValidationError

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
_DIA = re.compile(r"D\d+:\d+")


@dataclass
class Conversation:
    sample_id: str
    turns: list[dict[str, Any]]
    questions: list[dict[str, Any]] = field(default_factory=list)


def load_locomo_conversations(path: Path, limit: int | None = None) -> list[Conversation]:
    """Parse ``locomo10.json``; malformed evidence ids (``"D8:6; D9:17"``) are split, not dropped."""
    try:
        samples = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValidationError(f"not a readable LoCoMo JSON file: {err}", source=str(path)) from None
    out = []
    for sample in samples[:limit]:
        conv = sample["conversation"]
        turns = []
        sessions = sorted((k for k in conv if re.fullmatch(r"session_\d+", k)), key=lambda k: int(k.split("_")[1]))
        for session in sessions:
            for position, turn in enumerate(conv[session]):
                text = f"{turn['speaker']}: {turn['text']}"
                if turn.get("blip_caption"):
                    text += f" [shares a photo: {turn['blip_caption']}]"
                turns.append({"key": turn["dia_id"], "text": text, "session": int(session.split("_")[1]),
                              "turn": position + 1, "speaker": turn["speaker"]})
        questions = []
        for qa in sample.get("qa", []):
            evidence = {m for e in qa.get("evidence", []) for m in _DIA.findall(str(e).replace("D:", "D"))}
            if qa.get("category") in CATEGORIES and evidence:
                questions.append({"question": qa["question"], "evidence": sorted(evidence),
                                  "category": qa["category"]})
        out.append(Conversation(sample["sample_id"], turns, questions))
    return out


def index_conversation(store: Any, conv: Conversation) -> tuple[str, ...]:
    """Archive a conversation's turns in namespace ``("locomo", sample_id)``; returns it."""
    namespace = ("locomo", conv.sample_id)
    store.put_many(namespace, [{
        "key": t["key"], "content": t["text"], "text": t["text"], "kind": "message",
        # The keys the archive ranker reads to find neighbouring turns (engram.store._archive).
        "metadata": {"conversation": conv.sample_id, "session": t["session"], "turn": t["turn"],
                     "speaker": t["speaker"]},
    } for t in conv.turns])
    return namespace


def evaluate_conversation(store: Any, conv: Conversation, k: list[int]) -> list[dict[str, Any]]:
    """Per question: category and, for each k, whether any / all evidence turns are in the top k."""
    namespace = ("locomo", conv.sample_id)
    depth = max(max(k), 10)
    rows = []
    for qa in conv.questions:
        ranked = [r.id for r in store.search(namespace, qa["question"], kind="message", limit=depth)]
        evidence = set(qa["evidence"])
        row: dict[str, Any] = {"category": qa["category"]}
        for n in k:
            top = set(ranked[:n])
            row[f"any@{n}"] = bool(top & evidence)
            row[f"all@{n}"] = evidence <= top
        gains = [1.0 / math.log2(i + 2) for i, key in enumerate(ranked[:10]) if key in evidence]
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(evidence), 10)))
        row["ndcg@10"] = sum(gains) / ideal if ideal else 0.0
        rows.append(row)
    return rows


def summarize(rows: list[dict[str, Any]], k: list[int]) -> dict[str, float]:
    """recall_any@k / recall_all@k / NDCG@10 over categories 1-4, and recall_any@max(k) per category."""
    if not rows:
        return {"questions": 0}

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    out: dict[str, float] = {"questions": len(rows)}
    for n in k:
        out[f"recall_any@{n}"] = mean([r[f"any@{n}"] for r in rows])
        out[f"recall_all@{n}"] = mean([r[f"all@{n}"] for r in rows])
    out["ndcg@10"] = mean([r["ndcg@10"] for r in rows])
    top = max(k)
    for category, name in CATEGORIES.items():
        subset = [r[f"any@{top}"] for r in rows if r["category"] == category]
        if subset:
            out[f"recall_any@{top}.{name}"] = mean(subset)
    return out
