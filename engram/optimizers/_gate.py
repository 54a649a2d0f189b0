"""The candidate gate: a new prompt is accepted only if it does better on held-out trajectories.

For each held-out trajectory, the gate replays the user's turns under the old and under the
new prompt with the task LM (the assistant's turns are regenerated, the user's are kept) and
scores both replays with the judge (or a metric you pass). The candidate is accepted only if
its mean score beats the old one by more than ``min_improvement``. Both scores go into the
optimization result (``score_before`` / ``score_after``).

Example::

    gate = CandidateGate(judge=FeedbackJudge(lm="openai/gpt-4o-mini"))
    optimizer = GradientOptimizer(gate=gate)
    result = optimizer(train, prompt, validation=held_out)
    result.score_before, result.score_after, result.accepted
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import dspy

from engram.errors import TemplateError, ValidationError
from engram.lm import context_runner, resolve
from engram.optimizers._base import LMRef
from engram.optimizers._signatures import RespondUnderPrompt
from engram.prompts import Prompt, render
from engram.trajectories import Message, Trajectory

#: ``metric(trajectory, replayed_messages, prompt) -> float in [0, 1]``
ReplayMetric = Callable[[Trajectory, list[Message], Prompt], float]


@dataclass
class GateDecision:
    """Scores of the old and new prompt on the held-out trajectories, and the verdict."""

    score_before: float
    score_after: float
    accepted: bool
    reason: str
    per_trajectory: list[tuple[str, float, float]] = field(default_factory=list)  # (id, before, after)


def _system_text(prompt: Prompt, trajectory: Trajectory) -> str:
    """The prompt as the task LM sees it: variables filled from ``metadata["prompt_variables"]`` if given."""
    values = trajectory.metadata.get("prompt_variables") or {}
    try:
        filled = render(prompt.template, values) if values else prompt.template
    except TemplateError:
        filled = prompt.template
    return filled if isinstance(filled, str) else Prompt(name=prompt.name, template=filled).text


class CandidateGate:
    """Replays held-out trajectories under two prompts and keeps the better one.

    Args:
        task_lm: the LM that plays the assistant (default: the configured task LM).
        judge: a :class:`~engram.optimizers._judge.FeedbackJudge` (default: a new one on the judge LM).
        metric: instead of the judge, ``metric(trajectory, replayed_messages, prompt) -> float``.
        min_improvement: how much higher the new mean score must be (default 0: any gain).
        max_trajectories: replay at most this many held-out trajectories (cost control).
        num_threads: trajectories replayed at once (threads carry the DSPy context and usage tracking).
        cache_scores: remember each (prompt, trajectory) score, so the incumbent prompt is not
            re-scored every round (turn off if the task LM or judge is deliberately random).
    """

    def __init__(self, task_lm: Any = None, *, judge: Any = None, metric: ReplayMetric | None = None,
                 min_improvement: float = 0.0, max_trajectories: int = 8, num_threads: int = 4,
                 cache_scores: bool = True):
        if max_trajectories < 1:
            raise ValidationError(f"max_trajectories must be at least 1, got {max_trajectories}.")
        if num_threads < 1:
            raise ValidationError(f"num_threads must be at least 1, got {num_threads}.")
        self._task_lm = LMRef(task_lm)
        if judge is None and metric is None:
            from engram.optimizers._judge import FeedbackJudge

            judge = FeedbackJudge()
        self.judge = judge
        self.metric = metric
        self.min_improvement = min_improvement
        self.max_trajectories = max_trajectories
        self.num_threads = num_threads
        self.cache_scores = cache_scores
        self._scores: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self.respond = dspy.Predict(RespondUnderPrompt)

    def __deepcopy__(self, memo: dict) -> CandidateGate:
        # Compiling an optimizer deep-copies it; the gate (LMs, judge, score cache) is shared.
        return self

    def replay(self, prompt: Prompt, trajectory: Trajectory) -> list[Message]:
        """The trajectory's user turns with fresh assistant replies under ``prompt``."""
        system = _system_text(prompt, trajectory)
        messages: list[Message] = []
        with dspy.context(lm=resolve("task", self._task_lm.value)):
            for turn in trajectory.user_turns:
                earlier = Trajectory(messages=messages, id="replay").transcript() if messages else "none"
                reply = self.respond(system_prompt=system, conversation=earlier, message=turn.content).response
                messages += [turn, Message(role="assistant", content=str(reply or "(no reply)"))]
        return messages

    def score(self, prompt: Prompt, trajectory: Trajectory) -> float:
        """Replay ``trajectory`` under ``prompt`` and score the replay (cached per prompt text and trajectory)."""
        key = (prompt.text, trajectory.id)
        if self.cache_scores:
            with self._lock:
                if key in self._scores:
                    return self._scores[key]
        replayed = self.replay(prompt, trajectory)
        if self.metric is not None:
            value = float(self.metric(trajectory, replayed, prompt))
        else:
            conversation = Trajectory(messages=replayed, id="replay").transcript()
            value = float(self.judge(prompt=prompt.text, conversation=conversation).score)
        if self.cache_scores:
            with self._lock:
                self._scores[key] = value
        return value

    def evaluate(self, prompt: Prompt, trajectories: list[Trajectory]) -> list[float]:
        """Scores of ``prompt`` on each trajectory, replayed ``num_threads`` at a time (order kept)."""
        if self.num_threads == 1 or len(trajectories) == 1:
            return [self.score(prompt, t) for t in trajectories]
        with ThreadPoolExecutor(max_workers=min(self.num_threads, len(trajectories))) as pool:
            return list(pool.map(context_runner(lambda t: self.score(prompt, t)), trajectories))

    def compare(self, old: Prompt, new: Prompt, trajectories: list[Trajectory]) -> GateDecision:
        """Score both prompts on the same trajectories; accept ``new`` only if it is better."""
        chosen = [t for t in trajectories if t.user_turns][: self.max_trajectories]
        if not chosen:
            raise ValidationError("The gate needs held-out trajectories with at least one user turn.")
        before_scores, after_scores = self.evaluate(old, chosen), self.evaluate(new, chosen)
        rows = [(t.id, b, a) for t, b, a in zip(chosen, before_scores, after_scores)]
        before = sum(r[1] for r in rows) / len(rows)
        after = sum(r[2] for r in rows) / len(rows)
        accepted = after > before + self.min_improvement
        verb = "beats" if accepted else "does not beat"
        reason = (f"candidate scores {after:.3f} vs {before:.3f} on {len(rows)} held-out trajectories; "
                  f"it {verb} the original by more than {self.min_improvement:g}")
        return GateDecision(before, after, accepted, reason, rows)
