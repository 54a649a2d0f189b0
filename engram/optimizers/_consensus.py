"""Bagged reflection (EXPERIMENT, issue 10; measured worse and reverted): several critiques over
subsamples of the logs, and the recommendations most of them agree on.

Recommendations are matched by their normalized text (case, spaces and closing punctuation ignored).

Example::

    >>> consensus([["Be brief."], ["be brief", "Use lists."], ["Use a table."]], agreement=0.5)
    ['Be brief.']
    >>> [len(s) for s in subsample_ids(["a", "b", "c", "d"], k=3, fraction=0.5)]
    [2, 2, 2]
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

from engram.errors import ValidationError


def normalize(recommendation: str) -> str:
    """The text two critiques' recommendations are matched by."""
    return re.sub(r"\s+", " ", recommendation.strip().lower()).rstrip(" .!;:")


def subsample_ids(ids: Sequence[str], k: int, fraction: float) -> list[list[str]]:
    """``k`` subsamples of ``ids`` without replacement, each ``fraction`` of them, seeded by the ids."""
    if k < 1 or not 0.0 < fraction <= 1.0:
        raise ValidationError(f"need k >= 1 and 0 < fraction <= 1, got {k} and {fraction}.")
    ordered = sorted(ids)
    rng = random.Random(int(hashlib.sha256("\x1f".join(ordered).encode()).hexdigest()[:12], 16))
    size = max(1, round(len(ordered) * fraction))
    return [sorted(rng.sample(ordered, size)) for _ in range(k)]


def consensus(critiques: Sequence[Sequence[str]], agreement: float) -> list[str]:
    """Recommendations made by at least ``agreement`` of the critiques, most supported first."""
    if not 0.0 < agreement <= 1.0:
        raise ValidationError(f"agreement must be in (0, 1], got {agreement}.")
    support: dict[str, int] = {}
    wording: dict[str, str] = {}
    for recommendations in critiques:
        for r in recommendations:
            wording.setdefault(normalize(r), r.strip())
        for rec in dict.fromkeys(normalize(r) for r in recommendations if r.strip()):
            support[rec] = support.get(rec, 0) + 1
    kept = [rec for rec in support if support[rec] >= agreement * len(critiques) - 1e-9]
    return [wording[rec] for rec in sorted(kept, key=lambda rec: -support[rec])]
