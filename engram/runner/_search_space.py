"""A sweep's search space: named parameters that override dotted keys of the config.

In YAML::

    sweep:
      search_space:
        prompt.optimizer.kind: {choices: [gradient, metaprompt, prompt_memory]}
        prompt.optimizer.settings.max_reflection_steps: {low: 1, high: 3}
        prompt.optimizer.settings.temperature: {low: 0.0, high: 1.0}

Integer bounds give an integer parameter, float bounds a float one (``log: true`` for a
log scale). :func:`suggest` asks an Optuna trial for values; :func:`apply_overrides`
writes them into the config data before validation, so a sampled value that the config
model refuses is reported like any other config error.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, model_validator

if TYPE_CHECKING:
    import optuna


class SearchParam(BaseModel):
    """One dimension: ``choices`` (categorical) or ``low`` / ``high`` (int or float)."""

    model_config = ConfigDict(extra="forbid")

    choices: list[str | int | float | bool] | None = None
    low: int | float | None = None
    high: int | float | None = None
    step: int | float | None = None
    log: bool = False

    @model_validator(mode="after")
    def _shape(self) -> SearchParam:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either 'choices' or 'low'/'high', not both")
            if not self.choices:
                raise ValueError("'choices' needs at least one value")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give 'choices: [...]' or both 'low' and 'high'")
        if self.low > self.high:
            raise ValueError(f"'low' ({self.low}) must not exceed 'high' ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale parameter needs 'low' > 0")
        return self

    @property
    def is_int(self) -> bool:
        return self.choices is None and all(isinstance(v, int) and not isinstance(v, bool)
                                            for v in (self.low, self.high))

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(name, self.choices)
        # Without choices, the validator (_shape) has required both bounds.
        assert self.low is not None and self.high is not None
        if self.is_int:
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1),
                                     log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), step=self.step, log=self.log)


def suggest(space: dict[str, SearchParam], trial: optuna.Trial) -> dict[str, Any]:
    """Values for every parameter of ``space`` from ``trial`` (dotted key -> value)."""
    return {key: param.suggest(trial, key) for key, param in space.items()}


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of the YAML data with ``{"a.b.c": value}`` set, creating mappings as needed."""
    out = copy.deepcopy(data)
    for dotted, value in overrides.items():
        node = out
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out
