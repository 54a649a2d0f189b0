"""LangMem-style entry points: ``create_prompt_optimizer`` and ``create_multi_prompt_optimizer``.

For users coming from LangMem, the same names and ``config`` keys work::

    optimizer = create_prompt_optimizer("openai/gpt-4o-mini", kind="gradient",
                                        config={"max_reflection_steps": 3, "min_reflection_steps": 1})
    result = optimizer([(messages, {"score": 0, "comment": "too long"})], "You are a helpful assistant.")
    better_prompt = result.prompt.template        # LangMem returned this string

    multi = create_multi_prompt_optimizer("openai/gpt-4o-mini", kind="metaprompt")
    multi(trajectories, [{"name": "router", "prompt": "..."}, {"name": "writer", "prompt": "..."}]).prompts

Differences from LangMem: the call returns an :class:`OptimizationResult` (prompt, rationale,
diff, usage) instead of a bare string, LangMem's prompt-string config keys
(``gradient_prompt``, ``metaprompt``) are not used (the steps are DSPy signatures you can
compile instead), and the defaults stop early.
"""

from __future__ import annotations

from typing import Any, Literal

from engram.errors import ConfigurationError

Kind = Literal["gradient", "metaprompt", "prompt_memory"]
OptimizerKind = Kind  # the public name (engram.optimizers.OptimizerKind): the one list of kinds

# LangMem config keys that have no meaning here (their prompt texts are DSPy signatures now).
_IGNORED = {"gradient_prompt", "metaprompt"}


def _classes() -> dict[str, type]:
    from engram.optimizers._gradient import GradientOptimizer
    from engram.optimizers._metaprompt import MetapromptOptimizer
    from engram.optimizers._prompt_memory import PromptMemoryOptimizer

    return {"gradient": GradientOptimizer, "metaprompt": MetapromptOptimizer, "prompt_memory": PromptMemoryOptimizer}


def create_prompt_optimizer(lm: Any = None, *, kind: Kind = "gradient", config: dict[str, Any] | None = None):
    """A single-prompt optimizer module of the given ``kind``.

    ``config`` holds the optimizer's keyword arguments (e.g. ``max_reflection_steps``,
    ``min_reflection_steps``, ``minibatch_size``, ``gate``, ``max_tokens``).
    """
    classes = _classes()
    if kind not in classes:
        raise ConfigurationError(f"Unknown prompt optimizer kind {kind!r}; choose one of {sorted(classes)}.")
    options = {k: v for k, v in (config or {}).items() if k not in _IGNORED}
    if kind != "gradient":  # only the gradient optimizer has a minimum step count
        options.pop("min_reflection_steps", None)
    if kind == "prompt_memory":
        options.pop("max_reflection_steps", None)
    try:
        return classes[kind](lm, **options)
    except TypeError as err:
        raise ConfigurationError(f"Invalid config for the {kind} optimizer: {err}.") from err

