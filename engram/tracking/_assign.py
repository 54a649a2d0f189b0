"""Stable canary assignment: which keys (users, sessions, requests) get the candidate.

A key's arm depends only on the key and the canary's salt (SHA-256, not Python's
per-process ``hash``), so every process and every restart agrees, and raising the fraction
only moves keys from control to candidate, never back::

    in_canary("user-42", 0.1, salt="support@candidate")   # True for ~10 % of keys
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from engram.errors import ValidationError


def check_fraction(fraction: Any) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not math.isfinite(fraction) \
            or not 0.0 <= float(fraction) <= 1.0:
        raise ValidationError(f"The canary fraction must be a number from 0 to 1 (e.g. 0.1 for 10 %), "
                              f"got {fraction!r}.")
    return float(fraction)


def check_key(key: Any) -> str:
    if isinstance(key, bool) or not isinstance(key, (str, int)) or (isinstance(key, str) and not key.strip()):
        raise ValidationError(f"A canary needs a key that identifies who is asking (a user, session or request "
                              f"id as text or an int), got {key!r}; pass key=user_id.")
    return str(key)


def bucket(key: str, salt: str) -> float:
    """A number in [0, 1) fixed by ``key`` and ``salt``."""
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def in_canary(key: Any, fraction: Any, *, salt: str) -> bool:
    """Whether ``key`` is served the candidate of the canary named by ``salt`` at ``fraction``."""
    return bucket(check_key(key), salt) < check_fraction(fraction)
