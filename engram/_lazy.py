"""Imports by name: lazy package exports, optional modules and entry points.

This is the one module of engram that uses :mod:`importlib` (a test enforces it), so
every other import in the package is a plain statement that a reader and the
architecture test can see. Used by every engram package so that ``import engram``
loads no heavy dependency::

    _EXPORTS = {"MemoryStore": "engram.store._store"}
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from importlib import metadata
from types import ModuleType
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``.

    ``exports`` maps a public name to the module defining it: absolute (``"engram.x.y"``)
    or relative to the package (``"y"``). The resolved value is cached in the package.
    """

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name = target if target.startswith("engram") else f"{package}.{target}"
        value = getattr(importlib.import_module(module_name), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__


def import_module(name: str) -> ModuleType:
    """``importlib.import_module(name)``: for the few places that choose a module at run time."""
    return importlib.import_module(name)


def module_available(name: str) -> bool:
    """Whether ``name`` can be imported, without importing it (an optional dependency check)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a missing parent package, or a module without a spec
        return False


def entry_points(group: str) -> dict[str, Callable[[], Any]]:
    """The installed entry points of ``group``: name -> a function that loads the object.

    Loading is left to the caller, so a broken or absent plugin costs nothing until used.
    """
    return {ep.name: ep.load for ep in metadata.entry_points(group=group)}
