"""Run an algorithm written once as a generator, synchronously or on an event loop.

An algorithm yields :class:`Call` (an LM call) and :class:`Work` (blocking store work)
and receives each result (or has the step's exception thrown into it, so its own
``try`` decides what is retried). :func:`run` calls both inline; :func:`arun` awaits the
LM call and runs store work in a worker thread, in the caller's DSPy context, so the
event loop never blocks on Chroma or an embedder. ``MemoryExtractor._run`` does the same
for the extractor's calls.

    def algorithm():
        pred = yield Call(dspy.Predict("q -> a"), {"q": "hi"})
        rows = yield Work(store.list, (("memories", "u1"),))
        return pred.a, rows

    run(algorithm())    # or: await arun(algorithm())
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from engram.errors import EngramError, LMError
from engram.modules._lm import lm_scope
from engram.modules._settings import LMSpec

if TYPE_CHECKING:
    import dspy

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One LM call: ``module(**kwargs)`` with ``lm`` (else the algorithm's LM)."""

    module: dspy.Module
    kwargs: Mapping[str, object] = field(default_factory=dict)
    lm: LMSpec = None


@dataclass(frozen=True)
class Work:
    """Blocking work (store reads and writes): ``fn(*args)``."""

    fn: Callable[..., object]
    args: tuple[object, ...] = ()


Step = Call | Work
Algorithm = Generator[Step, Any, T]  # each step's result is sent back: its type depends on the step


async def _in_thread(fn: Callable[..., object], args: tuple[object, ...]) -> object:
    from engram.lm import context_runner

    return await asyncio.to_thread(context_runner(fn), *args)


def _lm_failure(err: Exception) -> EngramError:
    if isinstance(err, EngramError):
        return err
    return LMError(f"an LM call failed ({type(err).__name__}: {err}); check the LM configuration, or retry.")


def run(algorithm: Algorithm[T], lm: LMSpec = None) -> T:
    """Run ``algorithm`` in this thread."""
    send: Callable[[Any], Step] = algorithm.send
    value: Any = None
    while True:
        try:
            step = send(value)
        except StopIteration as done:
            return done.value
        try:
            if isinstance(step, Call):
                try:
                    with lm_scope(step.lm or lm):
                        value = step.module(**step.kwargs)
                except Exception as err:
                    raise _lm_failure(err) from err
            else:
                value = step.fn(*step.args)
            send = algorithm.send
        except Exception as err:  # noqa: BLE001 - handed to the algorithm, which decides
            send, value = algorithm.throw, err


async def arun(algorithm: Algorithm[T], lm: LMSpec = None) -> T:
    """Run ``algorithm`` on the event loop: LM calls awaited, store work in worker threads."""
    send: Callable[[Any], Step] = algorithm.send
    value: Any = None
    while True:
        try:
            step = send(value)
        except StopIteration as done:
            return done.value
        try:
            if isinstance(step, Call):
                try:
                    with lm_scope(step.lm or lm):
                        value = await step.module.acall(**step.kwargs)
                except Exception as err:
                    raise _lm_failure(err) from err
            else:
                value = await _in_thread(step.fn, step.args)
            send = algorithm.send
        except Exception as err:  # noqa: BLE001 - handed to the algorithm, which decides
            send, value = algorithm.throw, err


__all__ = ["Algorithm", "Call", "Step", "Work", "arun", "run"]
