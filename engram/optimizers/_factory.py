"""LangMem-style entry points: ``create_prompt_optimizer`` and ``create_multi_prompt_optimizer``.

For users coming from LangMem, the same names and ``config`` keys work::

    optimizer = create_prompt_optimizer("openai/gpt-4o-mini", kind="gradient",
                                        config={"max_reflection_steps": 3, "min_reflection_steps": 1})
    result = optimizer([(messages, {"score": 0, "comment": "too long"})], "You are a helpful assistant.")
    better_prompt = result.prompt.template        # LangMem returned this string

    multi = create_multi_prompt_optimizer("openai/gpt-4o-mini", kind="metaprompt")
    multi(trajectories, [{"name": "router", "prompt": "..."}, {"name": "writer", "prompt": "..."}]).prompts

LangMem's call shape works too: ``optimizer.invoke({"trajectories": ..., "prompt": ...})``
returns the improved prompt as a string (carrying the full result as ``.result``).

Custom meta-prompts (LangMem's ``gradient_prompt`` and ``metaprompt`` config keys) are
honoured: each step is a DSPy signature, and the custom text is added to the instructions of
the step it names, under a line that says it comes from the developer:

- ``kind="gradient"``: ``gradient_prompt`` -> the critique step (the "gradient"),
  ``metaprompt`` -> the step that applies the recommendations;
- ``kind="metaprompt"``: ``metaprompt`` -> the rewrite step (``gradient_prompt`` is refused:
  this kind has no critique step);
- ``kind="prompt_memory"``: both are refused (LangMem takes no config for it).

LangMem's ``{placeholders}`` in the text (``{current_prompt}``, ``{trajectories}``,
``{hypotheses}``, ``{recommendations}``, ...) name the step's inputs, which DSPy passes as
fields; they are rewritten to name those fields. Other differences: calling the optimizer
returns an :class:`OptimizationResult` (prompt, rationale, diff, usage), and the defaults stop
early.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from engram.errors import ConfigurationError

Kind = Literal["gradient", "metaprompt", "prompt_memory", "tally"]
OptimizerKind = Kind  # the public name (engram.optimizers.OptimizerKind): the one list of kinds

# LangMem's custom meta-prompt keys -> (output field, an input field) of the step each one extends
_STEPS: dict[str, dict[str, tuple[str, str]]] = {
    "gradient": {"gradient_prompt": ("recommendations", "trajectories"),
                 "metaprompt": ("improved_prompt", "recommendations")},
    "metaprompt": {"metaprompt": ("improved_prompt", "trajectories")},
    "prompt_memory": {},
    "tally": {},
}
_CUSTOM = ("gradient_prompt", "metaprompt")
# LangMem's template variables -> the DSPy input field that carries the same thing
_PLACEHOLDERS = {"current_prompt": "prompt", "prompt": "prompt", "trajectories": "trajectories",
                 "sessions": "trajectories", "hypotheses": "recommendations",
                 "recommendations": "recommendations", "instructions": "guidance",
                 "update_instructions": "guidance"}
_HEADER = "Additional instructions from the developer (LangMem config key {key!r}):"


def _classes() -> dict[str, type]:
    from engram.optimizers._gradient import GradientOptimizer
    from engram.optimizers._metaprompt import MetapromptOptimizer
    from engram.optimizers._prompt_memory import PromptMemoryOptimizer
    from engram.optimizers._tally import TallyOptimizer

    return {"gradient": GradientOptimizer, "metaprompt": MetapromptOptimizer, "prompt_memory": PromptMemoryOptimizer,
            "tally": TallyOptimizer}


def create_prompt_optimizer(lm: Any = None, *, kind: Kind = "gradient", config: dict[str, Any] | None = None):
    """A single-prompt optimizer module of the given ``kind``.

    ``config`` holds the optimizer's keyword arguments (e.g. ``max_reflection_steps``,
    ``min_reflection_steps``, ``minibatch_size``, ``gate``, ``max_tokens``).
    """
    classes = _classes()
    if kind not in classes:
        raise ConfigurationError(f"Unknown prompt optimizer kind {kind!r}; choose one of {sorted(classes)}.")
    options = dict(config or {})
    custom = {k: options.pop(k) for k in _CUSTOM if k in options}
    if kind != "gradient":  # only the gradient optimizer has a minimum step count
        options.pop("min_reflection_steps", None)
    if kind in ("prompt_memory", "tally"):  # neither runs a reflection loop
        options.pop("max_reflection_steps", None)
    from engram.optimizers._base import PromptOptimizerBase, keyword_names, unknown_keywords_message

    valid = [k for k in keyword_names(classes[kind], PromptOptimizerBase) if k != "lm"]
    unknown = sorted(k for k in options if k not in valid)
    if unknown:
        message = unknown_keywords_message("config", unknown, valid, noun="key")
        raise ConfigurationError(f"Invalid config for the {kind} optimizer: {message}")
    try:
        optimizer = classes[kind](lm, **options)
    except TypeError as err:
        raise ConfigurationError(f"Invalid config for the {kind} optimizer: {err}.") from err
    for key, text in custom.items():
        add_instructions(optimizer, kind, key, text)
    return optimizer


def add_instructions(optimizer: Any, kind: str, key: str, text: Any) -> None:
    """Add a LangMem custom meta-prompt (``key``: ``gradient_prompt`` / ``metaprompt``) to the
    instructions of the step of ``optimizer`` it names; refuse it where no step matches."""
    steps = _STEPS.get(kind, {})
    if key not in steps:
        where = ", ".join(f"kind={k!r}" for k, v in _STEPS.items() if key in v)
        raise ConfigurationError(
            f"config[{key!r}] has no step to apply to in the {kind} optimizer; it is honoured with {where}. "
            f"Drop it, or use one of those kinds.")
    if not isinstance(text, str) or not text.strip():
        raise ConfigurationError(f"config[{key!r}] must be non-empty text, got {text!r}.")
    output, an_input = steps[key]
    body = re.sub(r"\{(\w+)\}", lambda m: f"(the `{_PLACEHOLDERS[m.group(1)]}` input)"
                  if m.group(1) in _PLACEHOLDERS else m.group(0), text.strip())
    found = 0
    for _, predictor in optimizer.named_predictors():
        signature = predictor.signature
        if output in signature.output_fields and an_input in signature.input_fields:
            predictor.signature = signature.with_instructions(
                f"{signature.instructions}\n\n{_HEADER.format(key=key)}\n{body}")
            found += 1
    if not found:  # the optimizer's steps changed shape: refuse rather than drop the text
        raise ConfigurationError(f"config[{key!r}]: no step of the {kind} optimizer writes {output!r} from "
                                 f"{an_input!r}; the custom text cannot be applied.")
