"""LangMem's call shapes on engram's prompt optimizers: ``.invoke`` / ``.ainvoke``.

LangMem's optimizers are runnables: ``optimizer.invoke({"trajectories": [...], "prompt": ...})``
returns the improved prompt as a string, and the multi-prompt optimizer's
``invoke({"trajectories": [...], "prompts": [...]})`` returns the prompt dicts with their
``"prompt"`` updated. engram returns the same shapes from ``invoke``; the string also carries
the whole :class:`~engram.optimizers.OptimizationResult` (``.result``: diff, rationale,
usage), which calling the optimizer directly returns. ``"sessions"`` (LangMem's older key)
is read like ``"trajectories"``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Self

from engram.errors import ValidationError
from engram.lm import context_runner


class OptimizedPrompt(str):
    """The improved prompt text (what LangMem's ``invoke`` returns), with engram's full result.

    >>> text = OptimizedPrompt("Be brief.")
    >>> text.upper(), text.result is None
    ('BE BRIEF.', True)
    """

    result: Any

    def __new__(cls, text: str, result: Any = None) -> Self:
        made = super().__new__(cls, text)
        made.result = result
        return made


def _read(input: Any, key: str, what: str) -> tuple[Any, Any]:
    if not isinstance(input, Mapping):
        raise ValidationError(f"{what}.invoke() takes {{'trajectories': [...], '{key}': ...}}, "
                              f"got {type(input).__name__}.")
    trajectories = input.get("trajectories", input.get("sessions"))
    if trajectories is None or key not in input:
        raise ValidationError(f"{what}.invoke() takes {{'trajectories': [...], '{key}': ...}}; the input has keys "
                              f"{sorted(input)}.")
    unknown = set(input) - {"trajectories", "sessions", key}
    if unknown:
        raise ValidationError(f"{what}.invoke() does not read {sorted(unknown)}.")
    if isinstance(trajectories, str):
        raise ValidationError("trajectories given as one string are not read: pass [(messages, feedback), ...].")
    return trajectories, input[key]


def _text(prompt: Any) -> str:
    return prompt.template if isinstance(prompt.template, str) else str(prompt.text)


class PromptOptimizerRunnable:
    """``invoke`` / ``ainvoke`` for the single-prompt optimizers."""

    def invoke(self, input: Any, config: Mapping[str, Any] | None = None, **kwargs: Any) -> OptimizedPrompt:
        trajectories, prompt = _read(input, "prompt", "the prompt optimizer")
        result = self(trajectories, prompt)  # type: ignore[operator]
        return OptimizedPrompt(_text(result.prompt), result)

    async def ainvoke(self, input: Any, config: Mapping[str, Any] | None = None, **kwargs: Any) -> OptimizedPrompt:
        return await asyncio.to_thread(context_runner(self.invoke), input, config)


class MultiPromptOptimizerRunnable:
    """``invoke`` / ``ainvoke`` for the multi-prompt optimizer: LangMem's list of prompt dicts."""

    def invoke(self, input: Any, config: Mapping[str, Any] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        trajectories, prompts = _read(input, "prompts", "the multi-prompt optimizer")
        result = self(trajectories, prompts)  # type: ignore[operator]
        if result.errors:
            raise ValidationError(f"the multi-prompt optimization failed: {'; '.join(result.errors)}")
        out = []
        for given, prompt in zip(prompts, result.prompts, strict=True):
            base = dict(given) if isinstance(given, Mapping) else {"name": prompt.name}
            out.append({**base, "prompt": _text(prompt)})
        return out

    async def ainvoke(self, input: Any, config: Mapping[str, Any] | None = None,
                      **kwargs: Any) -> list[dict[str, Any]]:
        return await asyncio.to_thread(context_runner(self.invoke), input, config)


__all__ = ["MultiPromptOptimizerRunnable", "OptimizedPrompt", "PromptOptimizerRunnable"]
