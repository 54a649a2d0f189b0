"""The error an adapter raises when the pip extra it needs is not installed."""

from __future__ import annotations

from engram.errors import ConfigurationError


class MissingExtraError(ConfigurationError, ImportError):
    """An optional dependency is missing; the message names the ``pip install`` that adds it.

    Both an :class:`engram.EngramError` and an :class:`ImportError`, so code that guards an
    optional import with ``except ImportError`` keeps working.
    """

    def __init__(self, module: str, package: str, extra: str) -> None:
        self.module, self.package, self.extra = module, package, extra
        super().__init__(f"{module} needs {package}, which is not installed: "
                         f"pip install 'engram[{extra}]' (or pip install {package}).")
