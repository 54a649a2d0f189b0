"""One sweep trial: sample settings, optimize the prompt, evaluate it on held-out data in steps.

The objective returns ``(held-out score, cost)``; the study maximizes the first and
minimizes the second. Cost is what the *optimization* spent (tokens, calls or dollars,
per ``sweep.cost``): the held-out evaluation is the same measurement for every trial,
so it is recorded (``eval_tokens``) but not charged. Each trial is an MLflow run nested
under the sweep's run, with its parameters, partial scores and the prompt it produced.
"""

from __future__ import annotations

import os
from typing import Any

from engram.runner._config import ExperimentConfig
from engram.runner._data import load_run_data
from engram.runner._lms import resolve_lms
from engram.runner._pruning import COST_ATTR, PARTIAL_ATTR, dominated_at_step
from engram.runner._search_space import apply_overrides, suggest
from engram.runner._tracking import RunTracker


def trial_config(base: ExperimentConfig, params: dict[str, Any]) -> ExperimentConfig:
    """``base`` with the trial's dotted-key overrides applied and validated."""
    data = base.model_dump(mode="json", exclude={"sweep"})
    if data.get("prompt", {}).get("prompt", {}).get("template_file"):
        data["prompt"]["prompt"]["template_file"] = None  # already read into 'template'
    return ExperimentConfig.model_validate(apply_overrides(data, params))


def _cost(usage: Any, kind: str) -> float:
    if kind == "calls":
        return float(usage.calls)
    if kind == "cost":
        return float(usage.cost or 0.0)
    return float(usage.total_tokens)


class TrialObjective:
    """The Optuna objective for a config; build once per worker process, call per trial."""

    def __init__(self, config: ExperimentConfig, *, parent_run_id: str | None = None):
        self.config = config
        self.parent_run_id = parent_run_id
        self.names, self.lms = resolve_lms(config)
        config.required_dataset()  # a trial trains and evaluates on trajectories
        data = load_run_data(config)
        assert data.train is not None and data.validation is not None  # load_run_data splits a dataset
        self.train, self.validation = data.train, data.validation
        held_out = [t for t in self.validation if t.user_turns]
        limit = config.required_prompt().gate.max_trajectories or 8
        self.held_out = held_out[:limit]
        self.sweep = config.required_sweep()
        steps = min(self.sweep.eval_steps, max(len(self.held_out), 1))
        self.chunks = [self.held_out[i::steps] for i in range(steps)]
        self.tracker = RunTracker(config)

    def __call__(self, trial: Any) -> tuple[float, float]:
        from engram.errors import EngramError

        try:
            return self._evaluate(trial)
        except EngramError as err:
            trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:500])  # shown when trials keep failing
            raise

    def _evaluate(self, trial: Any) -> tuple[float, float]:
        import optuna

        from engram.lm import track_usage
        from engram.runner._steps._prompt import build_optimizer, candidate_gate, seed_prompt

        params = suggest(self.sweep.search_space, trial)
        trial.set_user_attr("worker_pid", os.getpid())
        cfg = trial_config(self.config, params)
        with self.tracker.run(name=f"trial-{trial.number}", nested=True, parent_run_id=self.parent_run_id,
                              tags={"engram.trial": str(trial.number)}):
            self.tracker.log_params(params)
            prompt_cfg = cfg.required_prompt()
            optimizer = build_optimizer(prompt_cfg, self.lms, gate=None)
            prompt = seed_prompt(prompt_cfg)
            with track_usage() as spent:
                for _ in range(prompt_cfg.optimizer.rounds):
                    result = optimizer(list(self.train), prompt)
                    prompt = result.prompt
            cost = _cost(spent, self.sweep.cost)
            trial.set_user_attr(COST_ATTR, cost)
            trial.set_user_attr("template", prompt.text)
            gate = candidate_gate(prompt_cfg.gate, self.lms)  # evaluates even with gate.enabled off
            scores: list[float] = []
            partial: list[float] = []
            with track_usage() as evaluation:
                for step, chunk in enumerate(self.chunks):
                    scores.extend(gate.score(prompt, t) for t in chunk)
                    partial.append(sum(scores) / len(scores))
                    trial.set_user_attr(PARTIAL_ATTR, partial)
                    self.tracker.log_metrics({"partial_score": partial[-1]}, step=step)
                    if (self.sweep.prune and step < len(self.chunks) - 1
                            and dominated_at_step(trial.study, step=step, score=partial[-1], cost=cost)):
                        self.tracker.set_tags({"engram.trial_state": "pruned"})
                        raise optuna.TrialPruned(f"dominated at evaluation step {step + 1}")
            score = partial[-1] if partial else 0.0
            trial.set_user_attr("eval_tokens", evaluation.total_tokens)
            self.tracker.log_metrics({"score": score, "cost": cost, "eval_tokens": evaluation.total_tokens})
            self.tracker.set_tags({"engram.trial_state": "complete"})
            return score, cost
