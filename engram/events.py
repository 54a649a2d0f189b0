"""Events: let upper layers (tracking) observe optimizations, compiles and extractions.

The optimizers and memory modules sit below ``engram.tracking`` and must not import it.
Instead they wrap their work in :func:`span`; a listener registered with
:func:`add_listener` (``engram.autolog()`` registers one) turns each span into whatever it
likes, e.g. an MLflow run around the whole operation. With no listener, :func:`span` costs
one attribute read and imports nothing::

    import engram.events as events

    with events.span("optimization", "gradient:support", params={"steps": 2}, data=train) as s:
        result = sum(len(t.messages) for t in train)   # the work
        s.result = result            # handed to listeners when the block ends

A listener is a callable ``listener(span) -> context manager | None``; its context manager
is entered before the block and exited after it (with the block's exception, if any). A
listener that fails never breaks the work: the error is logged as a warning and skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, Self

log = logging.getLogger("engram.events")

Listener = Callable[["Span"], Any]
_listeners: tuple[Listener, ...] = ()  # copy-on-write: readers never lock
_lock = threading.Lock()


class Span:
    """One observed operation: ``kind`` ("optimization", "compile", "extraction"...), ``name``,
    ``params``, the input ``data`` (trajectories / examples), and, once done, ``result`` and
    extra ``metrics`` (numbers the operation measured, e.g. scores before and after)."""

    __slots__ = ("data", "kind", "metrics", "name", "params", "result")

    def __init__(self, kind: str, name: str, params: dict[str, Any] | None = None, data: Any = None):
        self.kind = kind
        self.name = name
        self.params = dict(params or {})
        self.data = data
        self.result: Any = None
        self.metrics: dict[str, float | None] = {}

    def __repr__(self) -> str:
        return f"Span(kind={self.kind!r}, name={self.name!r})"


class _NullSpan:
    """What :func:`span` returns when nobody listens: a no-op context manager that drops what is set."""

    __slots__ = ()
    kind = name = ""
    data = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        return False

    @property
    def params(self) -> dict[str, Any]:
        return {}

    @property
    def result(self) -> Any:
        return None

    @result.setter
    def result(self, value: Any) -> None:
        pass

    @property
    def metrics(self) -> dict[str, float | None]:
        return {}  # a fresh dict: updates to it go nowhere

    @metrics.setter
    def metrics(self, value: Any) -> None:
        pass


_NULL = _NullSpan()


class _ActiveSpan:
    """Enters every listener's context manager around the block; listener faults become warnings."""

    def __init__(self, span: Span, listeners: tuple[Listener, ...]):
        self.span = span
        self.listeners = listeners
        self.entered: list[Any] = []

    def __enter__(self) -> Span:
        for listener in self.listeners:
            try:
                manager = listener(self.span)
                if manager is None:
                    continue
                manager.__enter__()
            except Exception as err:  # noqa: BLE001  (observing must never break the work)
                log.warning("engram: listener %r failed at the start of %s '%s': %s: %s",
                            listener, self.span.kind, self.span.name, type(err).__name__, err)
                continue
            self.entered.append(manager)
        return self.span

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        for manager in reversed(self.entered):
            try:
                manager.__exit__(exc_type, exc, tb)  # a listener cannot swallow the block's error
            except BaseException as err:
                if err is exc:
                    continue
                if not isinstance(err, Exception):
                    raise
                log.warning("engram: a listener failed at the end of %s '%s': %s: %s",
                            self.span.kind, self.span.name, type(err).__name__, err)
        return False


def span(kind: str, name: str, params: dict[str, Any] | None = None, *, data: Any = None) -> Any:
    """A context manager around an operation that listeners observe (see the module docstring).

    Yields a :class:`Span`; set ``span.result`` (and optionally ``span.metrics``) before the
    block ends. With no listener registered it yields a shared no-op object.
    """
    listeners = _listeners
    if not listeners:
        return _NULL
    return _ActiveSpan(Span(kind, name, params, data), listeners)


def add_listener(listener: Listener) -> None:
    """Register ``listener`` (idempotent): it is called with each new :class:`Span`."""
    global _listeners
    with _lock:
        if listener not in _listeners:
            _listeners = (*_listeners, listener)


def remove_listener(listener: Listener) -> None:
    """Unregister ``listener`` (no error if it was not registered)."""
    global _listeners
    with _lock:
        _listeners = tuple(x for x in _listeners if x != listener)


def listeners() -> tuple[Listener, ...]:
    """The registered listeners, in order."""
    return _listeners


def emit(kind: str, name: str, params: dict[str, Any] | None = None, *, result: Any = None) -> None:
    """A one-off event (no block): listeners see a span that starts and ends at once."""
    if not _listeners:
        return
    with span(kind, name, params) as current:
        current.result = result


class SpanOnCall:
    """Mixin for a ``dspy.Module``: every call (sync or async) runs inside ``self._span(args, kwargs)``.

    ``engram.autolog()`` then sees one span around the whole call, so the trace that
    ``mlflow.dspy.autolog`` opens in ``dspy.Module.__call__`` lands inside its run. A class
    lists it before ``dspy.Module`` and implements ``_span`` (a no-op when nobody listens)::

        class MyOptimizer(SpanOnCall, dspy.Module):
            def _span(self, args, kwargs):
                return span("optimization", "mine")
    """

    def _span(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._span(args, kwargs) as observed:
            result = observed.result = super().__call__(*args, **kwargs)  # type: ignore[misc]
        return result

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        with self._span(args, kwargs) as observed:
            result = observed.result = await super().acall(*args, **kwargs)  # type: ignore[misc]
        return result


__all__ = ["Span", "SpanOnCall", "add_listener", "emit", "listeners", "remove_listener", "span"]
