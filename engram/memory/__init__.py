"""Deprecated alias of :mod:`engram.store` (renamed in 0.2; this alias goes in 0.3).

``engram.memory`` used to name the Chroma store, while the memory *logic* lives in
:mod:`engram.modules`. Import from :mod:`engram.store` instead::

    from engram.store import MemoryStore
"""

from __future__ import annotations

import warnings
from typing import Any

import engram.store as _store

warnings.warn("engram.memory was renamed engram.store; import from engram.store "
              "(the alias goes in engram 0.3).", DeprecationWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    return getattr(_store, name)


def __dir__() -> list[str]:
    return dir(_store)


__all__ = list(_store.__all__)
