"""Time cues in queries and dates on records: the two temporal signals of the rankers, no LM.

A query such as "What did Gina find for her store on 1 February, 2023?" names a
date; records dated that day (or month, or year) are lifted. A query such as
"What did Melanie paint recently?" asks for the newest; records are lifted by
how recent they are. Queries without a cue get no temporal signal at all::

    query_dates("When did Melanie go camping in June 2023?")    # [(2023, 6, None)]
    wants_recent("What did Melanie paint recently?")             # True
    record_date("1:56 pm on 8 May, 2023")                        # datetime(2023, 5, 8, 13, 56)

A record's date is read from its metadata (``date``, ``date_time``, ``timestamp``,
``time``, ``when``; an ISO string, an epoch number, or free text such as LoCoMo's
session stamps), falling back to when it was last written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

#: Metadata keys read, in order, for a record's date.
DATE_KEYS = ("date", "date_time", "timestamp", "time", "when")
_MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"], start=1)}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
# "8 May, 2023", "May 8, 2023", "May 2023", "June", "2023", "2023-05-08"
_PATTERNS = [
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<mnum>\d\d)-(?P<day>\d\d)\b"),
    re.compile(r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"(?:,?\s+" + _YEAR + r")?\b", re.IGNORECASE),
    re.compile(r"\b" + _MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+" + _YEAR + r")?\b", re.IGNORECASE),
    re.compile(r"\b" + _MONTH + r"(?:,?\s+(?:of\s+)?" + _YEAR + r")?\b", re.IGNORECASE),
    re.compile(r"\b" + _YEAR + r"\b"),
]
_RECENT = re.compile(r"\b(recent|recently|lately|latest|newest|most recent|these days|nowadays|currently|"
                     r"now|last (?:time|week|month|year|weekend))\b", re.IGNORECASE)
# "may" is a month and a modal verb; read it as a month next to a day, a year or a preposition
_BARE_MAY = re.compile(r"^may$", re.IGNORECASE)
_BEFORE_MONTH = re.compile(r"\b(in|on|of|during|since|until|till|by|before|after|last|this|next|early|late|"
                           r"mid|from|through)\s*$", re.IGNORECASE)

DatePart = tuple[int | None, int | None, int | None]


def query_dates(query: str) -> list[DatePart]:
    """The (year, month, day) parts the query names, each part ``None`` when unsaid."""
    found: list[DatePart] = []
    taken: list[tuple[int, int]] = []
    for pattern in _PATTERNS:
        for m in pattern.finditer(query):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            parts = m.groupdict()
            month_word = parts.get("month")
            if (month_word and _BARE_MAY.match(month_word) and not (parts.get("day") or parts.get("year"))
                    and not _BEFORE_MONTH.search(query[: m.start()])):
                continue
            month = int(parts["mnum"]) if parts.get("mnum") else _MONTHS.get((month_word or "").lower().rstrip("."))
            year = int(parts["year"]) if parts.get("year") else None
            day = int(parts["day"]) if parts.get("day") else None
            if day is not None and not 1 <= day <= 31:
                continue
            taken.append((m.start(), m.end()))
            found.append((year, month, day))
    return found


def wants_recent(query: str) -> bool:
    """Does the query ask for the newest ("recently", "latest", "last week")?"""
    return bool(_RECENT.search(query))


def has_time_cue(query: str) -> bool:
    """Does the query carry any temporal cue the rankers use (a date, or a request for the newest)?"""
    return wants_recent(query) or bool(query_dates(query))


def record_date(value: Any) -> datetime | None:
    """A datetime from a metadata value (datetime, epoch number, ISO or free-text date), or None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        from dateutil import parser

        try:
            parsed = parser.parse(value, fuzzy=True, default=datetime(2000, 1, 1))
        except (ValueError, OverflowError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def metadata_date(metadata: dict[str, Any], fallback: datetime | None = None) -> datetime | None:
    """The record's date: the first parseable :data:`DATE_KEYS` value, else ``fallback``."""
    for key in DATE_KEYS:
        if key in metadata:
            when = record_date(metadata[key])
            if when is not None:
                return when
    return fallback


def date_match(query: str, dates: Sequence[datetime | None]) -> np.ndarray:
    """Per record, the best fraction of a named date's parts it matches (0 without a named date)."""
    named = query_dates(query)
    out = np.zeros(len(dates))
    if not named:
        return out
    for i, when in enumerate(dates):
        if when is None:
            continue
        best = 0.0
        for year, month, day in named:
            wanted = [(p, v) for p, v in ((year, when.year), (month, when.month), (day, when.day)) if p is not None]
            if wanted and all(p == v for p, v in wanted):
                best = 1.0
            elif wanted:
                best = max(best, sum(p == v for p, v in wanted) / len(wanted) / 2)
        out[i] = best
    return out


def recency(query: str, dates: Sequence[datetime | None]) -> np.ndarray:
    """Per record, 0 (oldest) .. 1 (newest) by date rank when the query asks for the newest, else 0."""
    out = np.zeros(len(dates))
    if not wants_recent(query):
        return out
    stamps = np.array([d.timestamp() if d is not None else np.nan for d in dates], dtype=float)
    known = ~np.isnan(stamps)
    if known.sum() < 2:
        return out
    lo: float = np.nanmin(stamps)
    hi: float = np.nanmax(stamps)
    if hi > lo:
        out[known] = (stamps[known] - lo) / (hi - lo)
    return out


__all__ = ["DATE_KEYS", "date_match", "has_time_cue", "metadata_date", "query_dates", "recency",
           "record_date", "wants_recent"]
