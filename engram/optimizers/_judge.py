"""FeedbackJudge: predict the feedback a conversation would get, and measure how well it agrees.

The judge is a ``dspy.Module`` (``ChainOfThought`` over the prompt and the conversation,
giving a ``score`` in [0, 1] and a ``critique``). It scores candidates in the gate, and its
critique is GEPA's textual feedback when compiling from feedback. Because it stands in for
real users, it is itself compiled on labeled trajectories and its agreement with the real
feedback on a held-out split is reported.

Example::

    report = compile_judge(dataset, prompt="You are a helpful assistant.", lm="openai/gpt-4o-mini")
    report.agreement_val          # 1 - mean |judge score - user score| on held-out trajectories
    report.concordance_val        # how often it orders two held-out trajectories as their users did
    report.judge(prompt="...", conversation="user: hi\\nassistant: hello").score
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import dspy

import engram.events as events
from engram.errors import LMError, ValidationError
from engram.lm import resolve
from engram.optimizers._base import LMRef
from engram.optimizers._formatting import coerce_trajectories
from engram.optimizers._signatures import JudgeConversation
from engram.trajectories import Trajectory, TrajectoryDataset

AGREEMENT_THRESHOLD = 0.75  # a bootstrapped demo must be within 0.25 of the user's score


def _clamp(value: Any) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError) as err:
        raise LMError(f"The judge returned a score that is not a number: {value!r}.") from err
    if math.isnan(score):
        raise LMError("The judge returned NaN as a score.")
    if 1.0 < score <= 10.0:  # a 0-10 scale slipped through; read it as tenths
        score = score / 10.0
    return min(1.0, max(0.0, score))


class FeedbackJudge(dspy.Module):
    """Predicts ``score`` (0-1) and ``critique`` for a conversation under a prompt.

    Args:
        lm: the judge LM (name or ``dspy.LM``); default: the configured judge LM.

    Example::

        judge = FeedbackJudge()
        judge(prompt="Be brief.", conversation="user: hi\\nassistant: Hello!").score
    """

    def __init__(self, lm: Any = None):
        super().__init__()
        self._lm = LMRef(lm)
        self.assess = dspy.ChainOfThought(JudgeConversation)

    def forward(self, prompt: str, conversation: str) -> dspy.Prediction:
        with dspy.context(lm=resolve("judge", self._lm.value)):
            pred = self.assess(prompt=prompt, conversation=conversation)
        return dspy.Prediction(score=_clamp(pred.score), critique=str(pred.critique or ""))

    def score_trajectory(self, trajectory: Trajectory, prompt: str) -> dspy.Prediction:
        """Judge a recorded trajectory under ``prompt``."""
        return self(prompt=prompt, conversation=trajectory.transcript())


def agreement(example: dspy.Example, pred: Any, trace: Any = None) -> float | bool:
    """1 - |judge score - user score|; while bootstrapping (``trace`` set) a pass/fail at 0.75."""
    value = 1.0 - abs(float(example.score) - float(pred.score))
    return value >= AGREEMENT_THRESHOLD if trace is not None else value


def judge_examples(trajectories: Any, prompt: Any = None) -> list[dspy.Example]:
    """``dspy.Example(prompt, conversation -> score, critique)`` for each trajectory with a score.

    ``prompt`` is the prompt the trajectories ran under (a string or Prompt); when None, a
    trajectory's ``metadata["prompt"]`` is used.
    """
    examples = []
    for t in coerce_trajectories(trajectories):
        if t.score is None:
            continue
        text = getattr(prompt, "text", prompt) or t.metadata.get("prompt")
        if not text:
            raise ValidationError(f"Trajectory {t.id} has no prompt; pass prompt= (the prompt it ran under).")
        examples.append(dspy.Example(prompt=str(text), conversation=t.transcript(), score=float(t.score),
                                     critique=(t.feedback.comment if t.feedback else None) or "",
                                     trajectory_id=t.id).with_inputs("prompt", "conversation"))
    return examples


def evaluate_agreement(judge: FeedbackJudge, examples: list[dspy.Example]) -> float | None:
    """Mean agreement of ``judge`` with the labeled examples (None when there are none)."""
    return _evaluate(judge, examples)[0]


def concordance(truth: list[float], predicted: list[float]) -> float | None:
    """How often the judge orders two examples as the users' scores do (ties count half).

    Unlike agreement, a constant judge cannot game it: it gets exactly 0.5. None when no
    two examples have different user scores.

    Example::

        >>> concordance([0.0, 1.0, 0.5], [0.5, 0.5, 0.5])
        0.5
        >>> concordance([0.0, 1.0, 0.5], [0.1, 0.9, 0.4])
        1.0
    """
    hits = pairs = 0.0
    for i in range(len(truth)):
        for j in range(i + 1, len(truth)):
            if truth[i] == truth[j]:
                continue
            pairs += 1
            sign = (truth[i] - truth[j]) * (predicted[i] - predicted[j])
            hits += 1.0 if sign > 0 else 0.5 if sign == 0 else 0.0
    return hits / pairs if pairs else None


def _evaluate(judge: FeedbackJudge, examples: list[dspy.Example]) -> tuple[float | None, float | None]:
    """(mean agreement, concordance) of ``judge`` on the labeled examples."""
    if not examples:
        return None, None
    predictions = [judge(**example.inputs()) for example in examples]
    total = sum(float(agreement(e, p)) for e, p in zip(examples, predictions))
    return total / len(examples), concordance([float(e.score) for e in examples],
                                              [float(p.score) for p in predictions])


@dataclass
class JudgeReport:
    """A compiled judge and how well it matches the user feedback (train and held-out).

    ``agreement_*`` is ``1 - mean |judge - user|``, which a judge that always answers the
    average score games (0.72 on OpenAssistant votes); ``concordance_*`` is how often the
    judge orders two held-out trajectories as their users did, 0.5 for any constant judge.
    """

    judge: FeedbackJudge
    agreement_train: float | None
    agreement_val: float | None
    agreement_val_uncompiled: float | None
    train_size: int
    val_size: int
    concordance_val: float | None = None
    concordance_val_uncompiled: float | None = None


def compile_judge(trajectories: Any, *, prompt: Any = None, lm: Any = None, val_fraction: float = 0.3,
                  max_bootstrapped_demos: int = 4, max_labeled_demos: int = 4, seed: int = 0) -> JudgeReport:
    """Compile a :class:`FeedbackJudge` on labeled trajectories with BootstrapFewShot.

    The split keeps each user (and thread) on one side, so the held-out agreement is honest.
    Needs at least two trajectories with a score.
    """
    items = [t for t in coerce_trajectories(trajectories) if t.score is not None]
    if len(items) < 2:
        raise ValidationError(f"compile_judge needs at least 2 trajectories with a score, got {len(items)}.")
    train, val = TrajectoryDataset(items).split_quietly(val_fraction, seed=seed)
    if not len(train) or not len(val):  # one user only: fall back to an ordered split
        cut = max(1, int(len(items) * (1 - val_fraction)))
        train, val = TrajectoryDataset(items[:cut]), TrajectoryDataset(items[cut:])
    train_ex, val_ex = judge_examples(train, prompt), judge_examples(val, prompt)
    params = {"program": "FeedbackJudge", "optimizer": "BootstrapFewShot", "train_size": len(train_ex),
              "val_size": len(val_ex), "val_fraction": val_fraction, "seed": seed,
              "max_bootstrapped_demos": max_bootstrapped_demos, "max_labeled_demos": max_labeled_demos}
    # engram.autolog(): one MLflow run around the compile; a no-op otherwise.
    with events.span("compile", "compile:judge", params, data=train_ex) as span:
        base = FeedbackJudge(lm)
        before, order_before = _evaluate(base, val_ex)
        teleprompter = dspy.BootstrapFewShot(metric=agreement, max_bootstrapped_demos=max_bootstrapped_demos,
                                             max_labeled_demos=max_labeled_demos)
        compiled = teleprompter.compile(FeedbackJudge(lm), trainset=train_ex)
        after, order_after = _evaluate(compiled, val_ex)
        report = JudgeReport(judge=compiled, agreement_train=evaluate_agreement(compiled, train_ex),
                             agreement_val=after, agreement_val_uncompiled=before,
                             train_size=len(train_ex), val_size=len(val_ex), concordance_val=order_after,
                             concordance_val_uncompiled=order_before)
        span.result = report
        span.metrics = {"score_before": before, "score_after": report.agreement_val,
                        "agreement_train": report.agreement_train, "concordance_val": order_after}
    return report
