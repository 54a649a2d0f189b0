"""Hybrid ranking of archived conversation turns: dense + BM25 + speaker + session + neighbours, no LM.

Why three signals: a question such as "When did Caroline go to the support
group?" shares rare words ("support group") with the turn that answers it,
which BM25 catches and a small embedding model blurs; paraphrases ("her
kids" vs "my children") are the reverse. Answers also spill over adjacent
turns (a question, then the reply that holds the fact), so a turn whose
neighbour matches well is lifted too. Each signal is z-scored within the
archive so the weights do not depend on the scale of cosine or BM25 values::

    from engram.store import get_embedder
    embed = get_embedder()
    texts = ["Caroline: I went to the LGBTQ support group yesterday.", "Melanie: I painted a lake.",
             "Caroline: The talks there were so moving."]
    index = ArchiveIndex.build(["D1:1", "D1:2", "D1:3"], texts, embed(texts),
                               positions=[("c1", 1, 1), ("c1", 1, 2), ("c1", 1, 3)])  # (conversation, session, turn)
    query = "When did Caroline go to the support group?"
    ranked = HybridRanker().rank(index, query, embed([query])[0])
    ranked[0]     # ('D1:1', fused_score): best first

Lexical scoring is ``bm25s`` (with PyStemmer's English stemmer when installed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from engram.store._archive._temporal import date_match, recency


def _stemmer() -> Any:
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:  # stemming helps (~+2 points on LoCoMo) but is optional
        return None


def tokenize(texts: Sequence[str], stemmer: Any = None) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=stemmer, show_progress=False,
                          return_ids=False)


@dataclass
class ArchiveIndex:
    """The searchable form of one namespace's messages (vectors, BM25, turn order)."""

    keys: list[str]
    vectors: np.ndarray                      # (n, dim), unit rows
    group: np.ndarray                        # id of the (conversation, session) each turn belongs to
    order: np.ndarray                        # position of each turn inside the sorted archive
    speakers: list[str]
    bm25: Any = None
    stemmer: Any = None
    prev: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    next: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    dates: list[datetime | None] = field(default_factory=list)   # for the temporal signals

    @classmethod
    def build(cls, keys: Sequence[str], texts: Sequence[str], vectors: Any,
              positions: Sequence[tuple[Any, Any, Any]], speakers: Sequence[str] | None = None,
              dates: Sequence[datetime | None] | None = None) -> ArchiveIndex:
        """``positions[i]`` = (conversation, session, turn) of message i; used to find neighbours.
        ``dates[i]`` (optional) is when message i was said, for the temporal signals."""
        import bm25s

        n = len(keys)
        matrix = np.asarray(vectors, dtype=np.float32).reshape(n, -1) if n else np.zeros((0, 1), np.float32)
        sort = sorted(range(n), key=lambda i: tuple(_sortable(p) for p in positions[i]))
        groups: dict[tuple[Any, Any], int] = {}
        group = np.array([groups.setdefault((positions[i][0], positions[i][1]), len(groups))
                          for i in range(n)], dtype=int)
        prev, nxt = np.arange(n), np.arange(n)   # a turn with no neighbour points at itself
        for a, b in zip(sort, sort[1:]):
            if group[a] == group[b]:
                nxt[a], prev[b] = b, a
        stemmer = _stemmer()
        corpus = tokenize(texts, stemmer) if n else []
        retriever = None
        if any(corpus):  # bm25s cannot index a corpus without a single token
            retriever = bm25s.BM25()
            retriever.index(corpus, show_progress=False)
        order: np.ndarray = np.empty(n, dtype=int)
        order[sort] = np.arange(n)
        return cls(keys=list(keys), vectors=matrix, group=group, order=order,
                   speakers=list(speakers or [""] * n), bm25=retriever, stemmer=stemmer,
                   prev=prev, next=nxt, dates=list(dates) if dates is not None else [None] * n)

    def __len__(self) -> int:
        return len(self.keys)


def _sortable(value: Any) -> tuple[int, Any]:
    # numbers before strings, so turn 10 sorts after turn 9 and mixed types never compare
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def bm25_scores(index: ArchiveIndex, query: str) -> np.ndarray:
    """Raw BM25 score of every entry of ``index`` for ``query`` (zeros when no query word is indexed)."""
    if index.bm25 is None or not len(index):
        return np.zeros(len(index))
    tokens = [t for t in tokenize([query], index.stemmer)[0] if t in index.bm25.vocab_dict]
    if not tokens:
        return np.zeros(len(index))
    return np.asarray(index.bm25.get_scores(tokens), dtype=np.float64)


def zscore(values: np.ndarray) -> np.ndarray:
    std = float(values.std()) if len(values) else 0.0
    return (values - values.mean()) / std if std > 1e-9 else np.zeros_like(values)


@dataclass
class HybridRanker:
    """Fuse dense, BM25, speaker, session and neighbour signals (no LM calls).

    ``speaker`` lifts turns spoken by a person the query names (when it names exactly one).
    ``session`` lifts every turn of a session whose best turn matches the query well: an
    answer often sits in the session that the question is about, in a turn that shares
    few words with it. ``date`` lifts turns dated as the query names ("in June 2023"),
    ``recency`` lifts newer turns when the query asks for the newest ("recently"); both are
    0 for queries without such a cue, and for turns without a date in their metadata.

    The default weights are the ones leave-one-conversation-out cross-validation on
    LoCoMo picks in every one of its 10 folds; held out, they score recall_any@10 = 0.760
    (in-sample 0.760, flat MiniLM 0.505). ``benchmarks/locomo_cv.py`` reproduces this.
    Time-aware scoring (``--temporal 0,0.5,1``): with ``date`` and ``recency`` in the grid,
    every fold picks ``date=1.0, recency=0``; held out 0.765 (0.760 without), and the
    defaults plus ``date=1.0`` score 0.771 in-sample, so ``date=1.0`` is on by default.
    ``recency`` does not help there (0.759 at 1.0) and stays off.
    """

    dense: float = 1.0
    lexical: float = 0.75
    neighbour: float = 0.5
    speaker: float = 0.6
    session: float = 0.25
    date: float = 1.0
    recency: float = 0.0

    def signals(self, index: ArchiveIndex, query: str, query_vector: Sequence[float]) -> dict[str, np.ndarray]:
        """Each signal over the messages of ``index``, z-scored within it (0 where absent);
        ``speaker``, ``date`` and ``recency`` are in [0, 1] instead."""
        n = len(index)
        q = np.asarray(query_vector, dtype=np.float32)
        similarity = index.vectors @ q if n else np.zeros(0)
        lexical = bm25_scores(index, query)
        out = {"dense": zscore(similarity), "lexical": zscore(lexical), "speaker": np.zeros(n),
               "session": np.zeros(n), "date": date_match(query, index.dates),
               "recency": recency(query, index.dates)}
        named = {s for s in set(index.speakers) if s and s.lower() in query.lower()}
        if len(named) == 1:
            (who,) = named
            out["speaker"] = np.array([s == who for s in index.speakers], dtype=float)
        if n:
            best = np.full(int(index.group.max()) + 1, -np.inf)
            np.maximum.at(best, index.group, similarity)
            out["session"] = zscore(best)[index.group] if len(best) > 1 else np.zeros(n)
        return out

    def fuse(self, index: ArchiveIndex, signals: dict[str, np.ndarray]) -> np.ndarray:
        """The fused score from :meth:`signals` under this ranker's weights."""
        n = len(index)
        if n == 0:
            return np.zeros(0)
        base = (self.dense * signals["dense"] + self.lexical * signals["lexical"]
                + self.speaker * signals["speaker"] + self.session * signals["session"])
        if self.date:
            base = base + self.date * signals["date"]
        if self.recency:
            base = base + self.recency * signals["recency"]
        if self.neighbour:
            around = np.maximum(np.where(index.prev != np.arange(n), base[index.prev], -np.inf),
                                np.where(index.next != np.arange(n), base[index.next], -np.inf))
            around = np.where(np.isfinite(around), around, base.min())
            base = base + self.neighbour * around
        return base

    def scores(self, index: ArchiveIndex, query: str, query_vector: Sequence[float]) -> np.ndarray:
        """Fused score of every message in ``index`` (same order as ``index.keys``)."""
        if len(index) == 0:
            return np.zeros(0)
        return self.fuse(index, self.signals(index, query, query_vector))

    def rank(self, index: ArchiveIndex, query: str, query_vector: Sequence[float],
             candidates: Sequence[int] | None = None) -> list[tuple[str, float]]:
        """``(key, score)`` pairs, best first (optionally only among ``candidates`` positions)."""
        return ranked_pairs(index, self.scores(index, query, query_vector), candidates)


def ranked_pairs(index: ArchiveIndex, scores: np.ndarray,
                 candidates: Sequence[int] | None = None) -> list[tuple[str, float]]:
    """``(key, score)`` pairs of ``index`` by ``scores``, best first; ties keep index order."""
    pool = np.arange(len(index)) if candidates is None else np.asarray(candidates, dtype=int)
    ranked = pool[np.argsort(-scores[pool], kind="stable")]
    return [(index.keys[i], float(scores[i])) for i in ranked]


@dataclass
class MemoryRanker:
    """Hybrid ranking for memories: cosine similarity plus bounded bonuses (no LM calls).

    Memories have no turn order or speakers, so of :class:`HybridRanker`'s signals only
    dense, BM25 and the temporal ones apply. Unlike the archive's z-scores, the score
    keeps cosine's scale, so ``min_score`` and scores from different namespaces compare:
    ``score = cosine + lexical * bm25 / best_bm25 + date * date_match + recency * newness``.
    Each bonus lies in [0, weight]: the best lexical match of the namespace gets the full
    ``lexical`` bonus, a memory dated as the query names gets ``date``, the newest gets
    ``recency`` when the query asks for the newest. ``benchmarks/locomo_memories.py``
    measures the weights on LoCoMo's observations (memories written from the conversations,
    a proxy for extracted memories): recall_any@10 0.801 cosine, 0.845 with BM25 and 0.870
    with the date bonus under leave-one-conversation-out (every fold picks lexical 0.2,
    date 0.5); these defaults (a milder date 0.2) score 0.866 in-sample. Recency moves
    recall by under 0.002 there, so it is off. Pass one as ``ranking`` for other weights::

        store.search(ns, "hiking in June 2023", ranking=MemoryRanker(lexical=0.2, date=0.5, recency=0.05))
    """

    lexical: float = 0.2
    date: float = 0.2
    recency: float = 0.0

    def scores(self, index: ArchiveIndex, query: str, query_vector: Sequence[float]) -> np.ndarray:
        """The score of every entry of ``index`` (same order as ``index.keys``)."""
        n = len(index)
        if n == 0:
            return np.zeros(0)
        out = index.vectors @ np.asarray(query_vector, dtype=np.float32)
        out = out.astype(np.float64)
        if self.lexical:
            lexical = bm25_scores(index, query)
            top = float(lexical.max())
            if top > 0:
                out += self.lexical * lexical / top
        if self.date:
            out += self.date * date_match(query, index.dates)
        if self.recency:
            out += self.recency * recency(query, index.dates)
        return out

    def rank(self, index: ArchiveIndex, query: str, query_vector: Sequence[float],
             candidates: Sequence[int] | None = None) -> list[tuple[str, float]]:
        """``(key, score)`` pairs, best first (optionally only among ``candidates`` positions)."""
        return ranked_pairs(index, self.scores(index, query, query_vector), candidates)
