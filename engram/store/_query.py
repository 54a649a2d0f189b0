"""Filtered reads that keep Chroma's ``where`` off the hot path.

Measured here: a ``where`` filter made a 10-row query take ~70 ms once the
Chroma database held 100k rows, even inside a 100-row collection (Chroma filters
metadata database-wide), while the same query without ``where`` took ~1 ms.
So reads first over-fetch without ``where`` and filter in Python
(:func:`engram.store._filters.matches`), and fall back to Chroma's ``where`` only
when the filter is too selective for the over-fetch or its semantics are
uncertain. Results are identical: the best k matching rows are always among the
best N rows whenever N rows contain k matches.
"""

from __future__ import annotations

from typing import Any

from engram.store._codec import rows
from engram.store._filters import Undecided, matches

SCAN_LIMIT = 5000     # rows a Python-side scan may read before Chroma's where is cheaper
_QUERY_INCLUDE = ["documents", "metadatas", "distances"]
_PREFIX_ROWS = 64     # rows the first read of a filtered scan takes


def nearest(col: Any, vector: list[float], where: dict | None, keys: list[str] | None,
            want: int) -> list[tuple[str, str | None, dict[str, Any], float]]:
    """The ``want`` nearest rows matching ``where``: (id, document, metadata, distance).

    No ``count()`` first: Chroma 1.x returns fewer rows when asked for more than a collection
    holds (none from an empty one), and the count was a second call, about 0.8 ms of a 7 ms
    search, that every concurrent search queued for (Chroma serves one call at a time).
    """
    n = max(want * 3, want + 20)
    try:
        while True:
            got = col.query(query_embeddings=[vector], n_results=n, ids=keys, include=_QUERY_INCLUDE)
            found = _flatten(got)
            hits = [h for h in found if matches(where, h[2])]
            if len(hits) >= want or len(found) < n:  # enough, or the whole collection was read
                return hits[:want]
            if n >= 4 * want + 400:
                break  # very selective filter: let Chroma filter first
            n *= 4
    except Undecided:
        pass
    got = col.query(query_embeddings=[vector], n_results=want, where=where, ids=keys,
                    include=_QUERY_INCLUDE)
    return _flatten(got)


def _flatten(got: dict[str, Any]) -> list[tuple[str, str | None, dict[str, Any], float]]:
    return [(i, d, m or {}, float(s)) for i, d, m, s in
            zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0])]


def scan(col: Any, where: dict | None, keys: list[str] | None, limit: int,
         offset: int) -> list[tuple[str, str | None, dict[str, Any], Any]]:
    """Rows matching ``where`` in insertion order, ``offset``/``limit`` applied after filtering."""
    if where is None:
        return rows(col.get(ids=keys, limit=limit, offset=offset, include=["documents", "metadatas"]))
    # One read usually answers: the first rows in insertion order hold the first matches, so when
    # a prefix of the collection has enough of them (or is the whole collection), they are the
    # answer. A count() first would cost another round trip to a server on every small listing.
    prefix = max(2 * (limit + offset), _PREFIX_ROWS)
    if keys is None and prefix <= SCAN_LIMIT:
        try:
            got = rows(col.get(limit=prefix, include=["documents", "metadatas"]))
            hits = [r for r in got if matches(where, r[2])]
            if len(hits) >= limit + offset or len(got) < prefix:
                return hits[offset : offset + limit]
        except Undecided:
            pass
    if col.count() <= SCAN_LIMIT:
        try:
            got = rows(col.get(ids=keys, include=["documents", "metadatas"]))
            return [r for r in got if matches(where, r[2])][offset : offset + limit]
        except Undecided:
            pass
    return rows(col.get(ids=keys, where=where, limit=limit, offset=offset,
                        include=["documents", "metadatas"]))


def count(col: Any, where: dict | None) -> int:
    """Number of rows matching ``where``."""
    if where is None:
        return col.count()
    if col.count() <= SCAN_LIMIT:
        try:
            return sum(matches(where, m or {}) for m in col.get(include=["metadatas"])["metadatas"])
        except Undecided:
            pass
    return len(col.get(where=where, include=[])["ids"])


#: ``ranking`` values of :meth:`MemoryStore.search` (a :class:`MemoryRanker` is accepted too).
RANKINGS = ("dense", "hybrid")
#: What ``ranking=None`` means for memories. "hybrid" ranks better on LoCoMo's observations
#: (``benchmarks/locomo_memories.py``, a proxy for extracted memories: recall_any@10 0.801 dense,
#: 0.845 with BM25, 0.870 with the date bonus, weights by leave-one-conversation-out), but it
#: loads the namespace into an in-process index on first use and its scores exceed cosine's
#: range, so the default stays the plain cosine search callers and thresholds already rely on.
DEFAULT_RANKING = "dense"


def check_ranking(ranking: Any) -> Any:
    """``"dense"``, ``"hybrid"`` or a ranker object (``MemoryRanker``); None is the default."""
    from engram.errors import ValidationError

    if ranking is None:
        return DEFAULT_RANKING
    if ranking in RANKINGS or callable(getattr(ranking, "rank", None)):
        return ranking
    raise ValidationError(f"ranking must be one of {list(RANKINGS)} or a MemoryRanker, got {ranking!r}.")


def check_min_score(min_score: Any, *, ranking: Any = None, kind: str | None = None) -> float | None:
    """A finite number or None, within the scores ``ranking`` can give (when that range is known).

    ``ranking`` is a value :func:`check_ranking` returned; without it only the type is checked.
    """
    import math

    from engram.errors import ValidationError

    if min_score is None:
        return None
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not math.isfinite(min_score):
        raise ValidationError(f"min_score must be a finite number or None, got {min_score!r}.")
    bounds = None if ranking is None else score_range(ranking, kind)
    if bounds is not None and not bounds[0] <= min_score <= bounds[1]:
        low, high = bounds
        what = "cosine similarity" if ranking == "dense" else "cosine plus the ranker's bonuses"
        raise ValidationError(
            f"min_score={min_score!r} is outside the scores ranking={_name(ranking)} gives ({what}, "
            f"from {low:g} to {high:g}), so it would {'drop every result' if min_score > high else 'drop nothing'}; "
            f"pass a value between {low:g} and {high:g} (e.g. 0.3), or None for no threshold.")
    return float(min_score)


def score_range(ranking: Any, kind: str | None = None) -> tuple[float, float] | None:
    """The lowest and highest score a memory search with ``ranking`` can give; None if unbounded.

    Dense: cosine similarity, [-1, 1]. A ``MemoryRanker`` (``"hybrid"`` is the default one)
    adds bonuses in [0, weight] to cosine. ``kind="message"`` (an archive's fused z-scores)
    and other ranker objects have no fixed range.
    """
    if kind == "message":
        return None
    if ranking == "dense":
        return (-1.0, 1.0)
    from engram.store._archive._ranking import MemoryRanker

    ranker = MemoryRanker() if ranking == "hybrid" else ranking
    if not isinstance(ranker, MemoryRanker):
        return None
    weights = (ranker.lexical, ranker.date, ranker.recency)
    return (-1.0 + sum(min(w, 0.0) for w in weights), 1.0 + sum(max(w, 0.0) for w in weights))


def _name(ranking: Any) -> str:
    return repr(ranking) if isinstance(ranking, str) else type(ranking).__name__


def above(records: list[Any], min_score: float | None) -> list[Any]:
    """``records`` whose score is at least ``min_score`` (all of them when it is None)."""
    if min_score is None:
        return records
    return [r for r in records if r.score is not None and r.score >= min_score]
