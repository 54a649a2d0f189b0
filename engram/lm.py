"""Which LM a call uses, LM construction from names, and usage accounting.

engram works with any ``dspy.LM``. Configure it once::

    engram.configure(lm="openai/gpt-4o-mini")          # or ENGRAM_LM=openai/gpt-4o-mini
    engram.configure(lm="offline/support")             # offline stand-in (engram.testing)

and every engram operation returns what it spent::

    with track_usage() as usage:
        ...                                             # any DSPy calls
    usage.calls, usage.prompt_tokens, usage.cost

:func:`resolve` is the one rule that picks an LM for a role; every engram module, optimizer,
gate and judge asks it. Names with a registered prefix (``offline/...``) are built by the
factory registered for that prefix (:func:`register_lm_prefix`); this module never imports
the code that registers them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from engram.config import get_settings, settings_generation
from engram.errors import ConfigurationError

if TYPE_CHECKING:
    import dspy

Role = Literal["task", "reflection", "judge"]
ROLES: tuple[Role, ...] = get_args(Role)
OFFLINE_PREFIX = "offline/"
LM_PREFIX_GROUP = "engram.lm_prefixes"
"""Entry-point group: ``"<prefix>" = "package.module:factory"`` makes names with that prefix buildable."""

_cache: dict[tuple[str, str], Any] = {}
_cache_generation = [-1]
_cache_lock = threading.Lock()
_prefixes: dict[str, Callable[[str], Any]] = {}
_prefix_lock = threading.Lock()
_entry_points_loaded = [False]

_NOT_CONFIGURED = (
    "No {role} LM is configured. Set ENGRAM_LM to a LiteLLM model name "
    "(e.g. ENGRAM_LM=openai/gpt-4o-mini), call engram.configure(lm=...), use dspy.context(lm=...), "
    "or pass lm= to this call. For offline runs, ENGRAM_LM=offline/support selects the simulated "
    "stand-in from engram.testing."
)


def reset_cache() -> None:
    """Forget LMs built from names (:func:`engram.configure` makes this happen by itself)."""
    with _cache_lock:
        _cache.clear()


def register_lm_prefix(prefix: str, factory: Callable[[str], Any]) -> None:
    """Build LM names that start with ``prefix`` with ``factory(name)`` (the whole name).

    :mod:`engram.testing` registers ``"offline/"`` when imported, and an installed engram
    declares the same in the ``engram.lm_prefixes`` entry-point group, so
    ``ENGRAM_LM=offline/support`` works without importing the test world by hand.

    Example::

        register_lm_prefix("mine/", lambda name: dspy.LM("openai/" + name.removeprefix("mine/")))
    """
    if not isinstance(prefix, str) or not prefix.endswith("/") or prefix.count("/") != 1:
        raise ConfigurationError(f"An LM prefix is a word followed by '/', such as 'offline/'; got {prefix!r}.")
    if not callable(factory):
        raise ConfigurationError(f"The factory for LM prefix {prefix!r} must be callable; got {factory!r}.")
    with _prefix_lock:
        _prefixes[prefix] = factory
    reset_cache()


def registered_lm_prefixes() -> list[str]:
    """Prefixes with a registered factory (after loading the installed entry points)."""
    _load_entry_points()
    with _prefix_lock:
        return sorted(_prefixes)


def _load_entry_points() -> None:
    if _entry_points_loaded[0]:
        return
    from engram._lazy import entry_points

    for prefix, load in entry_points(LM_PREFIX_GROUP).items():
        with _prefix_lock:
            known = prefix in _prefixes
        if not known:
            try:
                register_lm_prefix(prefix, load())
            except ImportError:  # that part of engram is not installed: the name stays unknown
                continue
    _entry_points_loaded[0] = True


def _factory_for(spec: str) -> Callable[[str], Any] | None:
    prefix = spec.split("/", 1)[0] + "/"
    with _prefix_lock:
        factory = _prefixes.get(prefix)
    if factory is None:
        _load_entry_points()
        with _prefix_lock:
            factory = _prefixes.get(prefix)
    return factory


def build_lm(spec: Any, *, cache: bool | None = None) -> dspy.BaseLM:
    """A ``dspy.LM`` from a name, or the given LM unchanged.

    A name with a registered prefix (``"offline/<world>"``, see :func:`register_lm_prefix`)
    is built by its factory; any other string is a LiteLLM model name.

    Example::

        build_lm("openai/gpt-4o-mini").model     # 'openai/gpt-4o-mini'
    """
    import dspy

    if isinstance(spec, dspy.BaseLM):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigurationError(
            f"An LM must be a model name such as 'openai/gpt-4o-mini' or a dspy.LM, got {spec!r}."
        )
    spec = spec.strip()
    if "/" not in spec:
        raise ConfigurationError(
            f"LM name {spec!r} has no provider prefix; write it as LiteLLM does, e.g. 'openai/{spec}'."
        )
    factory = _factory_for(spec)
    if factory is not None:
        return factory(spec)
    if spec.startswith(OFFLINE_PREFIX):
        raise ConfigurationError(
            f"{spec!r} names an offline stand-in, but none is registered: `import engram.testing` first "
            f"(it registers 'offline/'), or reinstall engram (`pip install -e .`) so its "
            f"'{LM_PREFIX_GROUP}' entry point does it for you."
        )
    use_cache = get_settings().lm_cache if cache is None else cache
    return dspy.LM(spec, cache=use_cache)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ConfigurationError(f"Unknown LM role {role!r}; use one of {', '.join(ROLES)}.")


def _chain(role: Role, overrides: Mapping[str, Any] | None = None) -> Any:
    """The first set value of ``role``'s fallback chain: judge -> reflection -> task."""
    _check_role(role)
    settings = get_settings()
    own = {"task": settings.lm, "reflection": settings.reflection_lm, "judge": settings.judge_lm}
    order = ROLES[ROLES.index(role)::-1]  # judge, reflection, task (from the role down)
    for step in order:
        for value in ((overrides or {}).get(step), own[step]):
            if value is not None:
                return value
    return None


def resolve_name(role: Role, overrides: Mapping[str, Any] | None = None) -> str | None:
    """The LM *name* for ``role`` from ``overrides`` and engram's settings, or ``None``.

    For each step of the role's chain (judge -> reflection -> task) an override (an
    experiment config's ``lms.<role>``) comes before the setting (``ENGRAM_<ROLE>_LM``).
    A ``dspy.LM`` object given as a setting is returned as its ``repr``. The runner uses this
    to name the LMs it builds; a call that needs an LM object uses :func:`resolve`.

    Example::

        resolve_name("judge", {"task": "openai/gpt-4o-mini"})   # 'openai/gpt-4o-mini'
    """
    found = _chain(role, overrides)
    return found if isinstance(found, str) or found is None else repr(found)


def resolve(role: Role = "task", lm: Any = None) -> dspy.BaseLM:
    """The LM a call in ``role`` uses; the one precedence rule of engram.

    1. ``lm``, the LM passed to the call (a name or a ``dspy.LM``);
    2. else the LM of the active ``dspy.context(lm=...)`` / ``dspy.configure(lm=...)``;
    3. else engram's settings (:func:`engram.configure` over ``ENGRAM_*``), falling back
       judge -> reflection -> task: ``ENGRAM_JUDGE_LM``, ``ENGRAM_REFLECTION_LM``, ``ENGRAM_LM``;
    4. else :class:`~engram.errors.ConfigurationError` saying how to set one. engram never
       falls back to a stand-in silently.

    So inside ``with dspy.context(lm=X):`` every engram module, optimizer, gate and judge
    uses ``X`` unless given its own ``lm=``. Names are built once per role and setting.

    Example::

        import dspy
        from engram.lm import resolve
        with dspy.context(lm=dspy.LM("openai/gpt-4o-mini")):
            resolve("judge").model                    # 'openai/gpt-4o-mini'
    """
    _check_role(role)
    if lm is not None:
        return build_lm(lm)
    import dspy

    if dspy.settings.lm is not None:
        return dspy.settings.lm
    spec = _chain(role)
    if spec is None:
        raise ConfigurationError(_NOT_CONFIGURED.format(role=role))
    if not isinstance(spec, str):
        return build_lm(spec)
    key = (role, spec)
    with _cache_lock:
        generation = settings_generation()
        if _cache_generation[0] != generation:  # engram.configure() ran: names may mean other LMs
            _cache.clear()
            _cache_generation[0] = generation
        if key in _cache:
            return _cache[key]
    # Built outside the lock: building may load an entry point that registers a prefix, which
    # clears this cache. Two threads racing here build twice and keep the first.
    built = build_lm(spec)
    with _cache_lock:
        return _cache.setdefault(key, built)


def get_lm(role: Role = "task", lm: Any = None) -> dspy.BaseLM:
    """The LM for a role: the same as :func:`resolve` (kept as its old name).

    Example::

        engram.get_lm("reflection")   # resolve("reflection")
    """
    return resolve(role, lm)


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
