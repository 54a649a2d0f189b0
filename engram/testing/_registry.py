"""Offline LMs by name: what ``ENGRAM_LM=offline/<name>`` builds (stand-ins, not models).

``import engram.testing`` registers :func:`build_offline_lm` for the ``offline/`` prefix with
:func:`engram.lm.register_lm_prefix` (an installed engram also declares it as an
``engram.lm_prefixes`` entry point), so ``engram.lm.build_lm("offline/support")`` calls
:func:`offline_lm` with ``"support"``::

    offline_lm("support")         # the simulated world (seed 0)
    offline_lm("support-slow")    # the same with 50 ms latency per call (concurrency demos)
    offline_lm("echo")            # answers every text field with the request's last input
    known_offline_lms()           # names with a one-line description
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engram.config import register_lm_name_check
from engram.errors import ConfigurationError


def _support(**kwargs: Any):
    from engram.testing._world import simulated_lm

    return simulated_lm(seed=0, name="offline/support", **kwargs)


def _support_slow(**kwargs: Any):
    from engram.testing._world import simulated_lm

    kwargs.setdefault("latency", 0.05)
    return simulated_lm(seed=0, name="offline/support-slow", **kwargs)


def _echo(**kwargs: Any):
    from engram.testing._scripted import scripted_lm

    def echo(call):
        last = next(reversed(call.inputs.values()), "") if call.inputs else ""
        return {name: last for name in call.output_fields} if call.output_fields else last

    return scripted_lm(echo, name="offline/echo", **kwargs)


def _hard(**kwargs: Any):
    from engram.testing._hard_world import hard_lm

    return hard_lm(0, **kwargs)


def _compaction(**kwargs: Any):
    from engram.testing._compaction_world import compaction_lm

    return compaction_lm(0, **kwargs)


_FACTORIES: dict[str, tuple[Callable[..., Any], str]] = {
    "compaction": (_compaction, "a note-taking extractor that piles up duplicates, and a compaction stand-in "
                                "that merges them (benchmarks/compaction.py)"),
    "hard": (_hard, "the hard world: conflicting users, noisy paraphrased feedback, a judge that "
                    "cannot see them (issue 10's evaluation world)"),
    "support": (_support, "the simulated support world (users with hidden preferences, judge, reflector)"),
    "support-slow": (_support_slow, "the simulated world with 50 ms latency per call"),
    "echo": (_echo, "answers each output field with the last input value (scripted)"),
}


def known_offline_lms() -> dict[str, str]:
    """Offline LM names (without the ``offline/`` prefix) and what each is."""
    return {name: doc for name, (_, doc) in _FACTORIES.items()}


def register_offline_lm(name: str, factory: Callable[..., Any], description: str = "") -> None:
    """Make ``offline/<name>`` buildable (e.g. a test's own world)."""
    _FACTORIES[name] = (factory, description or name)


def offline_lm(name: str, **kwargs: Any):
    """The offline stand-in LM called ``name`` (``"support"`` for ``offline/support``)."""
    name = name.removeprefix("offline/").strip()
    try:
        factory, _ = _FACTORIES[name]
    except KeyError:
        known = ", ".join(f"offline/{n}" for n in _FACTORIES)
        raise ConfigurationError(
            f"Unknown offline LM 'offline/{name}'. Known offline stand-ins: {known}. "
            "For a real model use a LiteLLM name such as 'openai/gpt-4o-mini'."
        ) from None
    return factory(**kwargs)


def build_offline_lm(name: str):
    """The factory of the ``offline/`` LM prefix: ``"offline/support"`` -> the stand-in."""
    return offline_lm(name)


def _unknown_offline_name(name: str) -> str | None:
    """What :func:`engram.configure` says about an ``offline/`` name no stand-in is registered for."""
    if name.removeprefix("offline/").strip() in _FACTORIES:
        return None
    known = ", ".join(f"offline/{n}" for n in _FACTORIES)
    return (f"there is no offline stand-in {name!r}. Known offline stand-ins: {known}. Register your own "
            "first with engram.testing.register_offline_lm(name, factory), or, for a real model, use a "
            "LiteLLM name such as 'openai/gpt-4o-mini'.")


register_lm_name_check("offline/", _unknown_offline_name)
