"""Loaders that turn public data sets into engram types (trajectories, archives).

Names load on first use::

    from engram.loaders import load_locomo, load_oasst, locomo_scores
    conversations = load_locomo("../shared/data/locomo10.json")
    locomo_scores(["D1:3", "D1:7", "D2:1"], evidence={"D1:7"})   # recall_any@k / recall_all@k / NDCG@10
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engram._lazy import lazy_exports

_LAZY = {
    "load_locomo": "engram.loaders._locomo",
    "parse_evidence": "engram.loaders._locomo",
    "LocomoTurn": "engram.loaders._locomo",
    "LocomoQuestion": "engram.loaders._locomo",
    "LocomoConversation": "engram.loaders._locomo",
    "SCORED_CATEGORIES": "engram.loaders._locomo_eval",
    "locomo_questions": "engram.loaders._locomo_eval",
    "locomo_scores": "engram.loaders._locomo_eval",
    "locomo_summary": "engram.loaders._locomo_eval",
    "mean_scores": "engram.loaders._locomo_eval",
    "load_oasst": "engram.loaders._oasst",
    "votes_to_feedback": "engram.loaders._oasst",
}

__all__ = list(_LAZY)

if not TYPE_CHECKING:  # checkers see the imports below instead of a catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time names load lazily
    from engram.loaders._locomo import (
        LocomoConversation as LocomoConversation,
        LocomoQuestion as LocomoQuestion,
        LocomoTurn as LocomoTurn,
        load_locomo as load_locomo,
        parse_evidence as parse_evidence,
    )
    from engram.loaders._locomo_eval import (
        SCORED_CATEGORIES as SCORED_CATEGORIES,
        locomo_questions as locomo_questions,
        locomo_scores as locomo_scores,
        locomo_summary as locomo_summary,
        mean_scores as mean_scores,
    )
    from engram.loaders._oasst import (
        load_oasst as load_oasst,
        votes_to_feedback as votes_to_feedback,
    )
