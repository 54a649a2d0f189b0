"""Scoring LoCoMo retrieval: the one implementation of recall_any@k, recall_all@k and NDCG@10.

The runner's retrieval step, ``benchmarks/locomo_retrieval.py`` and the tests all score
with these functions, so a figure in one place means the same thing in the others. A
question counts when its category is 1-4 (5 is adversarial: no answer exists) and at
least one evidence id names a real turn of its conversation; ids that name no turn are
dropped from its evidence, not counted as misses::

    from engram.loaders import load_locomo, locomo_questions, locomo_scores, locomo_summary
    conv = load_locomo()[0]
    rows = []
    for question, evidence in locomo_questions(conv):
        ranked = [hit.id for hit in store.search(("locomo", conv.sample_id), question.question,
                                                 kind="message", limit=10)]
        rows.append({"category": question.category, **locomo_scores(ranked, evidence)})
    locomo_summary(rows)["recall_any@10"]

A doctest-sized example of the scores themselves::

    >>> locomo_scores(["D1:2", "D1:1"], {"D1:1"}, k=(1, 5))
    {'recall_any@1': 0.0, 'recall_all@1': 0.0, 'recall_any@5': 1.0, 'recall_all@5': 1.0, 'ndcg@10': 0.6309297535714575}
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engram.loaders._locomo import LocomoConversation, LocomoQuestion

SCORED_CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
DEFAULT_K = (1, 5, 10)
NDCG_DEPTH = 10


def locomo_questions(conversation: LocomoConversation) -> list[tuple[LocomoQuestion, set[str]]]:
    """The scorable questions of a conversation, each with its evidence restricted to real turns."""
    known = {turn.dia_id for turn in conversation.turns}
    out = []
    for question in conversation.questions:
        evidence = {e for e in question.evidence if e in known}
        if question.category in SCORED_CATEGORIES and evidence:
            out.append((question, evidence))
    return out


def locomo_scores(ranked: Sequence[str], evidence: Iterable[str], k: Sequence[int] = DEFAULT_K) -> dict[str, float]:
    """Scores of one ranking: for each k, any / all evidence turns in the top k; NDCG@10."""
    evidence = set(evidence)
    if not evidence:
        raise ValueError("a question without evidence cannot be scored; filter with locomo_questions()")
    out: dict[str, float] = {}
    for n in k:
        top = set(ranked[:n])
        out[f"recall_any@{n}"] = float(bool(top & evidence))
        out[f"recall_all@{n}"] = float(evidence <= top)
    gains = sum(1.0 / math.log2(i + 2) for i, key in enumerate(ranked[:NDCG_DEPTH]) if key in evidence)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(evidence), NDCG_DEPTH)))
    out[f"ndcg@{NDCG_DEPTH}"] = gains / ideal
    return out


def mean_scores(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The mean of every score column over ``rows`` (``category`` is left out)."""
    if not rows:
        return {}
    names = [name for name in rows[0] if name != "category"]
    return {name: sum(float(r[name]) for r in rows) / len(rows) for name in names}


def locomo_summary(rows: Sequence[dict[str, Any]], k: Sequence[int] = DEFAULT_K) -> dict[str, float]:
    """Means over all rows, their count (``questions``) and recall_any@max(k) per category."""
    out: dict[str, float] = {"questions": len(rows), **mean_scores(rows)}
    top = max(k)
    for category, name in SCORED_CATEGORIES.items():
        subset = [r for r in rows if r.get("category") == category]
        if subset:
            out[f"recall_any@{top}.{name}"] = mean_scores(subset)[f"recall_any@{top}"]
    return out
