"""Budget enforcement: stop a run when it has spent its LM calls, tokens or cost.

The budget counts what the run spends across all of its steps, including the spending
recorded by a resumed run's earlier attempt. :meth:`Budget.check` is called between
units of work (a chunk of trajectories, an optimization round), so a step never stops
halfway through a write; the checkpoint keeps what finished::

    budget = Budget(BudgetConfig(max_calls=200))
    budget.add(usage)            # after each unit of work
    budget.check("memory")       # raises engram.BudgetExceededError past a limit
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engram.errors import BudgetExceededError
from engram.lm import Usage

if TYPE_CHECKING:
    from engram.runner._config import BudgetConfig


class Budget:
    """Running totals against the configured limits."""

    def __init__(self, limits: BudgetConfig, spent: dict[str, Any] | None = None):
        self.limits = limits
        spent = spent or {}
        self.calls = int(spent.get("calls", 0))
        self.prompt_tokens = int(spent.get("prompt_tokens", 0))
        self.completion_tokens = int(spent.get("completion_tokens", 0))
        self.cost = float(spent.get("cost", 0.0) or 0.0)
        self.cost_known = bool(spent.get("cost_known", True))

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, usage: Usage) -> None:
        self.calls += usage.calls
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        if usage.cost is None and usage.calls:
            self.cost_known = False  # a model without a price: the cost limit cannot be trusted
        self.cost += usage.cost or 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "tokens": self.tokens,
                "cost": round(self.cost, 6), "cost_known": self.cost_known}

    def check(self, where: str) -> None:
        """Raise :class:`engram.BudgetExceededError` if any limit is crossed."""
        limits = self.limits
        over = []
        if limits.max_calls is not None and self.calls > limits.max_calls:
            over.append(f"{self.calls} LM calls > budget.max_calls={limits.max_calls}")
        if limits.max_tokens is not None and self.tokens > limits.max_tokens:
            over.append(f"{self.tokens} tokens > budget.max_tokens={limits.max_tokens}")
        if limits.max_cost is not None and self.cost > limits.max_cost:
            over.append(f"${self.cost:.4f} > budget.max_cost={limits.max_cost}")
        if over:
            raise BudgetExceededError(
                f"Budget exceeded during '{where}': {'; '.join(over)}. Finished work is checkpointed; "
                f"raise the limit in the config's 'budget:' section and re-run to continue.")

    def remaining_calls(self) -> int | None:
        if self.limits.max_calls is None:
            return None
        return max(self.limits.max_calls - self.calls, 0)
