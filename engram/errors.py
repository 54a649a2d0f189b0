"""The engram exception hierarchy.

Every error engram raises on purpose derives from :class:`EngramError`, and its
message says what was wrong and how to fix it::

    try:
        engram.get_lm()
    except engram.ConfigurationError as err:
        print(err)   # "No LM is configured. Set ENGRAM_LM=... or call engram.configure(lm=...)"
"""

from __future__ import annotations


class EngramError(Exception):
    """Base class of every error raised by engram.

    ``field`` names the input the error is about, when there is one (the service puts it in
    its error body's ``field``)::

        err = ConflictError("memory 'diet' is at version 3, not 2", field="expected_version")
        err.field   # 'expected_version'
    """

    field: str | None = None

    def __init__(self, *args: object, field: str | None = None) -> None:
        super().__init__(*args)
        if field is not None:
            self.field = field


class ConfigurationError(EngramError):
    """A setting is missing or invalid (LM, embedder, store path, tracking URI)."""


class ValidationError(EngramError, ValueError):
    """Input data does not match what engram expects.

    ``source`` / ``line`` / ``field`` locate the problem when it comes from a file,
    so the message reads ``data.jsonl:12: field 'feedback.score': ...``.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.source is not None:
            where = str(self.source)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        what = f"field '{self.field}': " if self.field else ""
        return f"{where}{what}{self.reason}"


class NamespaceError(EngramError, ValueError):
    """A namespace or namespace template is malformed or could not be filled."""


class StoreError(EngramError):
    """The memory store refused an operation or could not be reached."""


class StoreInUseError(StoreError):
    """Another process holds the persistent store directory (one process per directory).

    ``directory`` is the store directory; ``holder`` what its lock file says of the holder:
    ``pid``, ``host``, ``since`` and ``argv`` (its command line), each when known::

        try:
            MemoryStore.persistent(".engram/chroma")
        except StoreInUseError as err:
            print(err.holder.get("pid"), err.holder.get("argv"))   # 4242 ['engram', 'serve', ...]
    """

    def __init__(self, message: str, *, directory: str | None = None, holder: dict | None = None) -> None:
        super().__init__(message)
        self.directory = directory
        self.holder = dict(holder or {})


class NotFoundError(EngramError, KeyError):
    """A memory, prompt, version or alias does not exist."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ConflictError(StoreError):
    """A write lost a race: the record changed since it was read (optimistic concurrency)."""


class LMError(EngramError):
    """An LM call failed or returned output engram could not use."""


class TemplateError(EngramError, ValueError):
    """A prompt template lost, invented or malformed a variable."""


class OptimizationError(EngramError):
    """A prompt optimizer could not produce a usable candidate."""


class TrackingError(EngramError):
    """MLflow tracking or the prompt registry failed or could not be reached."""


class BudgetExceededError(EngramError):
    """A run used up its budget of LM calls, tokens or cost."""


__all__ = [
    "EngramError",
    "ConfigurationError",
    "ValidationError",
    "NamespaceError",
    "StoreError",
    "StoreInUseError",
    "NotFoundError",
    "ConflictError",
    "LMError",
    "TemplateError",
    "OptimizationError",
    "TrackingError",
    "BudgetExceededError",
]
