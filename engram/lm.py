"""LM construction and usage accounting.

engram works with any ``dspy.LM``. Configure it once::

    engram.configure(lm="openai/gpt-4o-mini")          # or ENGRAM_LM=openai/gpt-4o-mini
    engram.configure(lm="offline/support")             # offline stand-in (engram.testing)

and every engram operation returns what it spent::

    with track_usage() as usage:
        ...                                             # any DSPy calls
    usage.calls, usage.prompt_tokens, usage.cost
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from engram.config import get_settings
from engram.errors import ConfigurationError

if TYPE_CHECKING:
    import dspy

Role = Literal["task", "reflection", "judge"]
OFFLINE_PREFIX = "offline/"

_cache: dict[tuple[str, str], Any] = {}
_cache_lock = threading.Lock()

_NOT_CONFIGURED = (
    "No {role} LM is configured. Set ENGRAM_LM to a LiteLLM model name "
    "(e.g. ENGRAM_LM=openai/gpt-4o-mini), call engram.configure(lm=...), or pass lm= to this call. "
    "For offline runs, ENGRAM_LM=offline/support selects the simulated stand-in from engram.testing."
)


def reset_cache() -> None:
    """Forget LMs built from names (after :func:`engram.configure`)."""
    with _cache_lock:
        _cache.clear()


def build_lm(spec: Any, *, cache: bool | None = None) -> dspy.BaseLM:
    """A ``dspy.LM`` from a name, or the given LM unchanged.

    ``"offline/<world>"`` names build an offline stand-in (see :mod:`engram.testing`);
    any other string is a LiteLLM model name.
    """
    import dspy

    if isinstance(spec, dspy.BaseLM):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigurationError(
            f"An LM must be a model name such as 'openai/gpt-4o-mini' or a dspy.LM, got {spec!r}."
        )
    spec = spec.strip()
    if spec.startswith(OFFLINE_PREFIX):
        from engram.testing import offline_lm

        return offline_lm(spec.removeprefix(OFFLINE_PREFIX))
    if "/" not in spec:
        raise ConfigurationError(
            f"LM name {spec!r} has no provider prefix; write it as LiteLLM does, e.g. 'openai/{spec}'."
        )
    use_cache = get_settings().lm_cache if cache is None else cache
    return dspy.LM(spec, cache=use_cache)


def get_lm(role: Role = "task", lm: Any = None) -> dspy.BaseLM:
    """The LM for a role: the explicit ``lm``, else the configured one.

    The reflection LM falls back to the task LM, the judge LM to the reflection LM.
    A call with nothing configured raises :class:`ConfigurationError`; engram never
    falls back to a stand-in silently.
    """
    if lm is not None:
        return build_lm(lm)
    settings = get_settings()
    chain = {"task": [settings.lm], "reflection": [settings.reflection_lm, settings.lm],
             "judge": [settings.judge_lm, settings.reflection_lm, settings.lm]}[role]
    spec = next((s for s in chain if s is not None), None)
    if spec is None:
        import dspy

        if dspy.settings.lm is not None:  # the user configured DSPy directly
            return dspy.settings.lm
        raise ConfigurationError(_NOT_CONFIGURED.format(role=role))
    if not isinstance(spec, str):
        return build_lm(spec)
    with _cache_lock:
        key = (role, spec)
        if key not in _cache:
            _cache[key] = build_lm(spec)
        return _cache[key]


@dataclass
class Usage:
    """LM calls, tokens and cost spent by an operation (cached responses cost nothing)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    by_model: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        merged = {k: dict(v) for k, v in self.by_model.items()}
        for model, stats in other.by_model.items():
            slot = merged.setdefault(model, {})
            for key, value in stats.items():
                slot[key] = slot.get(key, 0) + value
        cost = None if self.cost is None and other.cost is None else (self.cost or 0) + (other.cost or 0)
        return Usage(self.calls + other.calls, self.prompt_tokens + other.prompt_tokens,
                     self.completion_tokens + other.completion_tokens, cost, merged)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["total_tokens"] = self.total_tokens
        return out


def _cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    if model.startswith(OFFLINE_PREFIX):
        return 0.0
    try:
        import litellm

        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        return float(prompt_cost + completion_cost)
    except Exception:  # unknown model: no price on the local cost map
        return None


def _make_tracker(parent: Any):
    from dspy.utils.usage_tracker import UsageTracker

    class _ChainedTracker(UsageTracker):
        """Records a call here and in the enclosing tracker, so nested scopes both count it."""

        def add_usage(self, lm: str, usage_entry: dict[str, Any]) -> None:
            super().add_usage(lm, usage_entry)
            if parent is not None:
                parent.add_usage(lm, usage_entry)

    return _ChainedTracker()


def usage_from_tracker(tracker: Any) -> Usage:
    usage = Usage()
    for model, entries in tracker.usage_data.items():
        prompt = sum(int(e.get("prompt_tokens") or 0) for e in entries)
        completion = sum(int(e.get("completion_tokens") or 0) for e in entries)
        cost = _cost(model, prompt, completion)
        usage.calls += len(entries)
        usage.prompt_tokens += prompt
        usage.completion_tokens += completion
        if cost is not None:
            usage.cost = (usage.cost or 0.0) + cost
        usage.by_model[model] = {"calls": len(entries), "prompt_tokens": prompt,
                                 "completion_tokens": completion}
    return usage


@contextmanager
def track_usage() -> Iterator[Usage]:
    """Count every LM call made inside the block (this thread and DSPy's parallel workers).

    The yielded :class:`Usage` is filled in when the block exits. Scopes nest.
    """
    import dspy

    tracker = _make_tracker(dspy.settings.usage_tracker)
    usage = Usage()
    try:
        with dspy.settings.context(usage_tracker=tracker):
            yield usage
    finally:
        final = usage_from_tracker(tracker)
        usage.__dict__.update(final.__dict__)


def context_runner(fn):
    """Wrap ``fn`` so that it runs in the caller's DSPy context (LM, usage tracker) in another thread."""
    import contextvars

    ctx = contextvars.copy_context()
    return lambda *args, **kwargs: ctx.copy().run(fn, *args, **kwargs)
