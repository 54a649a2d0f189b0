"""The candidate gate: a new prompt is accepted only if it is reliably better on held-out data.

For each held-out trajectory, the gate replays the user's turns under the old and under the
new prompt with the task LM (the assistant's turns are regenerated, the user's are kept) and
scores both replays with the judge, a metric, MLflow scorers or a learned
:class:`~engram.optimizers._scorer.FeedbackScorer`. It then makes a *paired* comparison
(:func:`~engram.optimizers._stats.paired_comparison`) per trajectory, or per user with
``unit="user"``, and accepts only when the lower bound of the interval on the gain is above
``min_gain``. A mean difference is not enough: with 8 trajectories and a judge whose noise is
0.25, a candidate that is no better beats the incumbent's mean about half the time, while
the interval rule accepts it under 5 % of the time (``benchmarks/gate_calibration.py``).

Example::

    gate = CandidateGate(judge=FeedbackJudge(lm="openai/gpt-4o-mini"), min_gain=0.02)
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
from engram.optimizers._base import LMRef, check_number, keyword_names, unknown_keywords_message
from engram.optimizers._heldout import ScorersMetric, held_out_trajectories
from engram.optimizers._learned import LogScorer
from engram.optimizers._signatures import RespondUnderPrompt
from engram.optimizers._stats import METHODS, Method, PairedComparison, paired_comparison
from engram.prompts import Prompt, render
from engram.trajectories import Message, Trajectory

#: ``metric(trajectory, replayed_messages, prompt) -> float`` (higher is better)
ReplayMetric = Callable[[Trajectory, list[Message], Prompt], float]
UNITS = ("trajectory", "user")
SCORER_ROLES = ("prescreen", "second_opinion")
# Names people reach for, and the keyword that does that job here.
_ALIASES = {"threshold": "min_gain", "min_delta": "min_gain", "margin": "min_gain", "alpha": "confidence",
            "n_bootstrap": "n_resamples", "max_examples": "max_trajectories", "threads": "num_threads",
            "lm": "task_lm"}


@dataclass
class GateDecision:
    """The verdict on a candidate, with the statistics behind it.

    Attributes:
        score_before: the incumbent's mean score on the held-out items.
        score_after: the candidate's mean score on the same items.
        accepted: True when the interval's lower bound on the gain is above ``min_gain``.
        reason: one sentence saying what was measured and why it was accepted or rejected.
        per_trajectory: ``(trajectory id, before, after)`` for every replayed trajectory.
        comparison: the paired comparison (interval, n, test, wins / losses / ties); None when
            nothing could be compared.
        min_gain: the threshold the lower bound had to clear.
        unit: ``"trajectory"`` or ``"user"`` (what one paired item is).
        prescreened: True when the learned scorer rejected the candidate before the judge ran.
        scorer_comparison: the learned scorer's own paired comparison when it ran beside the judge.
    """

    score_before: float
    score_after: float
    accepted: bool
    reason: str
    per_trajectory: list[tuple[str, float, float]] = field(default_factory=list)
    comparison: PairedComparison | None = None
    min_gain: float = 0.0
    unit: str = "trajectory"
    prescreened: bool = False
    scorer_comparison: PairedComparison | None = None

    @property
    def n(self) -> int:
        """How many paired items the decision rests on."""
        return self.comparison.n if self.comparison else 0

    @property
    def interval(self) -> tuple[float, float] | None:
        """The interval on the gain (None when nothing was compared)."""
        return self.comparison.ci if self.comparison else None

    @property
    def gain(self) -> float:
        """``score_after - score_before``."""
        return self.score_after - self.score_before


def _system_text(prompt: Prompt, trajectory: Trajectory) -> str:
    """The prompt as the task LM sees it: variables filled from ``metadata["prompt_variables"]`` if given."""
    values = trajectory.metadata.get("prompt_variables") or {}
    try:
        filled = render(prompt.template, values) if values else prompt.template
    except TemplateError:
        filled = prompt.template
    return filled if isinstance(filled, str) else Prompt(name=prompt.name, template=filled).text


class CandidateGate:
    """Replays held-out trajectories under two prompts and keeps the candidate only if reliably better.

    Args:
        task_lm: the LM that plays the assistant (default: the configured task LM).
        judge: a :class:`~engram.optimizers._judge.FeedbackJudge` (default when nothing else scores).
        metric: instead of the judge, ``metric(trajectory, replayed_messages, prompt) -> float``.
        scorers: instead of the judge, MLflow scorers (``mlflow.genai.scorers``; ``@scorer``
            functions or built-ins); the score is the mean of their values on the last reply.
        scorer: a fitted :class:`~engram.optimizers._scorer.FeedbackScorer`. Alone, it is the
            score (free: no judge calls). Beside a judge, metric or scorers it is a pre-screen:
            a candidate it finds reliably *worse* is rejected before the judge runs.
        scorer_role: what a scorer beside a judge does: ``"prescreen"`` (default, above) or
            ``"second_opinion"``: also the judge's veto is lifted when the scorer finds a reliable
            gain and the judge does not find the candidate reliably worse. The judge has a taste
            of its own; the scorer learned the users' (see :mod:`engram.optimizers._learned`).
            Two ways to accept are two chances of a false accept: about twice the one-route rate.
        learn_scorer: fit a :class:`~engram.optimizers._scorer.FeedbackScorer` on the logs an
            optimizer hands over (:meth:`learn`), refitted as logs accumulate; True, or a
            function returning an unfitted scorer (e.g. with your own embedder). It always stands
            beside a judge or metric (the default FeedbackJudge when none is given), since there is
            nothing to learn from before the first logs arrive.
        min_gain: the interval's lower bound on the gain must be above this (default 0).
        confidence: two-sided confidence of the interval (default 0.95: a candidate that is no
            better is accepted at most about 2.5 % of the time).
        method: ``"bootstrap"`` (default), ``"sign"`` or ``"t"``; see :func:`paired_comparison`.
        unit: ``"trajectory"`` (one pair per trajectory) or ``"user"`` (trajectories averaged
            per ``trajectory.user``, so one chatty user cannot outvote the rest).
        max_trajectories: replay at most this many held-out trajectories (cost control).
        num_threads: trajectories replayed at once (threads carry the DSPy context and usage tracking).
        cache_scores: remember each (prompt, trajectory) replay and score, so the incumbent is
            not re-scored every round (turn off if the task LM or judge is deliberately random).
        seed: the bootstrap's seed (the same scores give the same decision).
        n_resamples: bootstrap resamples per decision.
        min_improvement: the former name of ``min_gain`` (still accepted).
        reuse_logged: let an optimizer hand over logged trajectories as the incumbent's replays
            (:meth:`remember`): the replies users saw are samples of the incumbent, which saves
            half the task calls. Use only when ``task_lm`` is the production model and harness;
            otherwise the comparison mixes the harness change into the prompt change.

    Example::

        old_prompt = Prompt(name="support", template="You help {company} customers.")
        new_prompt = Prompt(name="support", template="You help {company} customers. Number the steps.")
        gate = CandidateGate(metric=lambda t, replayed, p: float("sorry" not in replayed[-1].content))
        decision = gate.compare(old_prompt, new_prompt, held_out)
        decision.accepted, decision.interval, decision.n, decision.reason
    """

    def __init__(self, task_lm: Any = None, *, judge: Any = None, metric: ReplayMetric | None = None,
                 scorers: Any = None, scorer: Any = None, min_gain: float | None = None,
                 confidence: float = 0.95, method: Method = "bootstrap", unit: str = "trajectory",
                 max_trajectories: int = 20, num_threads: int = 4, cache_scores: bool = True, seed: int = 0,
                 n_resamples: int = 10_000, min_improvement: float | None = None, reuse_logged: bool = False,
                 scorer_role: str = "prescreen", learn_scorer: bool | Callable[[], Any] = False, **unknown: Any):
        if unknown:
            raise ValidationError(unknown_keywords_message(
                "CandidateGate", sorted(unknown), keyword_names(CandidateGate, CandidateGate), _ALIASES))
        for name, value, example in (("max_trajectories", max_trajectories, 20), ("num_threads", num_threads, 4),
                                     ("n_resamples", n_resamples, 10_000), ("seed", seed, 0)):
            check_number(value, name, integer=True, example=example)
        for name, number in (("min_gain", min_gain), ("min_improvement", min_improvement), ("confidence", confidence)):
            if number is not None:
                check_number(number, name, example=0.95 if name == "confidence" else 0.02)
        if max_trajectories < 1:
            raise ValidationError(f"max_trajectories must be at least 1, got {max_trajectories}.")
        if num_threads < 1:
            raise ValidationError(f"num_threads must be at least 1, got {num_threads}.")
        if method not in METHODS:
            raise ValidationError(f"method must be one of {', '.join(METHODS)}; got {method!r}.")
        if unit not in UNITS:
            raise ValidationError(f"unit must be 'trajectory' or 'user'; got {unit!r}.")
        if not 0.0 < confidence < 1.0:
            raise ValidationError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence!r}.")
        if min_gain is not None and min_improvement is not None and min_gain != min_improvement:
            raise ValidationError("min_gain and min_improvement name the same threshold; pass only min_gain.")
        threshold = min_gain if min_gain is not None else (min_improvement or 0.0)
        if threshold < 0:
            raise ValidationError(f"min_gain must be 0 or more (a gain the candidate must reliably exceed), "
                                  f"got {threshold}.")
        if sum(x is not None for x in (judge, metric, scorers)) > 1:
            raise ValidationError("Pass one of judge=, metric= or scorers= (they are alternative ways to score).")
        if judge is not None and not callable(judge):
            raise ValidationError(
                f"judge must be a FeedbackJudge (a module called with prompt= and conversation=), got "
                f"{type(judge).__name__} {judge!r}"
                + (f"; to pick its model, pass judge=FeedbackJudge(lm={judge!r})." if isinstance(judge, str) else "."))
        if metric is not None and not callable(metric):
            raise ValidationError(f"metric must be a function metric(trajectory, replayed_messages, prompt) -> float, "
                                  f"got {type(metric).__name__} {metric!r}.")
        if scorer_role not in SCORER_ROLES:
            raise ValidationError(f"scorer_role must be 'prescreen' or 'second_opinion'; got {scorer_role!r}.")
        if scorer is not None and not hasattr(scorer, "score_trajectory"):
            raise ValidationError(f"scorer= must be a fitted FeedbackScorer (with score_trajectory), got {scorer!r}.")
        self._task_lm = LMRef(task_lm)
        if scorers is not None:
            metric = ScorersMetric(scorers)
        if judge is None and metric is None and (scorer is None or learn_scorer):
            from engram.optimizers._judge import FeedbackJudge

            judge = FeedbackJudge()
        self.judge, self.metric, self.scorer = judge, metric, scorer
        self.min_gain = float(threshold)
        if n_resamples < 100:
            raise ValidationError(f"n_resamples must be at least 100 for a stable interval, got {n_resamples}.")
        self.confidence, self.method, self.unit, self.seed = confidence, method, unit, seed
        self.n_resamples = n_resamples
        self.max_trajectories = max_trajectories
        self.num_threads = num_threads
        self.cache_scores = cache_scores
        self.reuse_logged = reuse_logged
        self.scorer_role = scorer_role
        self._learner = LogScorer(learn_scorer) if learn_scorer else None
        self._scores: dict[tuple[str, str, str], float] = {}
        self._replays: dict[tuple[str, str], list[Message]] = {}
        self._lock = threading.Lock()
        self.respond = dspy.Predict(RespondUnderPrompt)

    @property
    def min_improvement(self) -> float:
        """The former name of :attr:`min_gain`."""
        return self.min_gain

    def __deepcopy__(self, memo: dict) -> CandidateGate:
        # Compiling an optimizer deep-copies it; the gate (LMs, judge, score cache) is shared.
        return self

    def replay(self, prompt: Prompt, trajectory: Trajectory) -> list[Message]:
        """The trajectory's user turns with fresh assistant replies under ``prompt`` (cached)."""
        key = (prompt.text, trajectory.id)
        if self.cache_scores:
            with self._lock:
                if key in self._replays:
                    return self._replays[key]
        system = _system_text(prompt, trajectory)
        messages: list[Message] = []
        with dspy.context(lm=resolve("task", self._task_lm.value)):
            for turn in trajectory.user_turns:
                earlier = Trajectory(messages=messages, id="replay").transcript() if messages else "none"
                reply = self.respond(system_prompt=system, conversation=earlier, message=turn.content).response
                messages += [turn, Message(role="assistant", content=str(reply or "(no reply)"))]
        if self.cache_scores:
            with self._lock:
                self._replays[key] = messages
        return messages

    def remember(self, prompt: Prompt, trajectories: list[Trajectory]) -> int:
        """Take logged trajectories that ran under ``prompt`` as its replays (no task call); returns how many.

        Only plain user/assistant exchanges (each user turn answered once) qualify; others are
        replayed as usual. Does nothing unless ``reuse_logged`` and ``cache_scores`` are on.
        """
        if not (self.reuse_logged and self.cache_scores):
            return 0
        taken = 0
        for t in trajectories:
            turns = [m for m in t.messages if m.role != "system"]
            roles = [m.role for m in turns]
            if not turns or roles != ["user", "assistant"] * (len(turns) // 2) or len(turns) % 2:
                continue
            with self._lock:
                self._replays.setdefault((prompt.text, t.id), turns)
            taken += 1
        return taken

    def learn(self, trajectories: list[Trajectory]) -> Any:
        """With ``learn_scorer``: refit the learned scorer on every log seen so far; returns the scorer in use."""
        if self._learner is None:
            return self.scorer
        fitted = self._learner.add(trajectories)
        if fitted is not None and fitted is not self.scorer:
            with self._lock:  # the old model's scores no longer hold
                self._scores = {k: v for k, v in self._scores.items() if k[0] != "scorer"}
            self.scorer = fitted
        return self.scorer

    def _value(self, how: str, prompt: Prompt, trajectory: Trajectory) -> float:
        key = (how, prompt.text, trajectory.id)
        if self.cache_scores:
            with self._lock:
                if key in self._scores:
                    return self._scores[key]
        replayed = self.replay(prompt, trajectory)
        if how == "scorer":
            value = float(self.scorer.score_trajectory(Trajectory(messages=replayed, id="replay")))
        elif self.metric is not None:
            value = float(self.metric(trajectory, replayed, prompt))
        else:
            conversation = Trajectory(messages=replayed, id="replay").transcript()
            value = float(self.judge(prompt=prompt.text, conversation=conversation).score)
        if self.cache_scores:
            with self._lock:
                self._scores[key] = value
        return value

    @property
    def _primary(self) -> str:
        return "scorer" if self.judge is None and self.metric is None else "judge"

    def score(self, prompt: Prompt, trajectory: Trajectory) -> float:
        """Replay ``trajectory`` under ``prompt`` and score the replay (cached per prompt text and trajectory)."""
        return self._value(self._primary, prompt, trajectory)

    def evaluate(self, prompt: Prompt, trajectories: list[Trajectory], *, how: str | None = None) -> list[float]:
        """Scores of ``prompt`` on each trajectory, replayed ``num_threads`` at a time (order kept)."""
        how = how or self._primary
        if self.num_threads == 1 or len(trajectories) == 1:
            return [self._value(how, prompt, t) for t in trajectories]
        with ThreadPoolExecutor(max_workers=min(self.num_threads, len(trajectories))) as pool:
            return list(pool.map(context_runner(lambda t: self._value(how, prompt, t)), trajectories))

    def decide(self, before: list[float], after: list[float], *, groups: list[str] | None = None) -> GateDecision:
        """The verdict from paired scores (no replay): the gate's statistics on scores you already have.

        ``groups`` (e.g. user ids) averages the pairs per group first when ``unit="user"``.

        Example::

            >>> gate = CandidateGate(metric=lambda *a: 0.0)
            >>> gate.decide([0.5] * 10, [0.5] * 10).accepted
            False
        """
        if len(before) != len(after):
            raise ValidationError(f"decide needs one before and one after score per item; got {len(before)} "
                                  f"and {len(after)}.")
        if not before:
            raise ValidationError("decide needs at least one pair of scores.")
        pairs_b, pairs_a = list(before), list(after)
        if self.unit == "user" and groups is not None:
            by: dict[str, list[tuple[float, float]]] = {}
            for g, b, a in zip(groups, before, after):
                by.setdefault(g, []).append((b, a))
            pairs_b = [sum(b for b, _ in v) / len(v) for v in by.values()]
            pairs_a = [sum(a for _, a in v) / len(v) for v in by.values()]
        cmp = paired_comparison(pairs_b, pairs_a, confidence=self.confidence, method=self.method, seed=self.seed,
                                n_resamples=self.n_resamples)
        accepted = cmp.above(self.min_gain)
        units = "trajectories" if self.unit == "trajectory" else "users"
        lo = cmp.lower
        if accepted:
            why = f"accepted: the lower bound {lo:+.3f} is above min_gain {self.min_gain:g}"
        elif lo == float("-inf"):
            why = (f"rejected: {cmp.n} paired {units} are too few for a {cmp.confidence:.0%} interval "
                   f"with the {cmp.method} test; hold out more")
        elif cmp.upper < 0:
            why = f"rejected: the candidate is reliably worse (upper bound {cmp.upper:+.3f} < 0)"
        else:
            why = (f"rejected: the lower bound {lo:+.3f} is not above min_gain {self.min_gain:g} "
                   f"(the gain is not distinguishable from noise at n={cmp.n})")
        if accepted and cmp.n < 5:
            why += (f" (only {cmp.n} paired {units}: the interval cannot reach beyond the observed gains, "
                    "so hold out more for a trustworthy decision)")
        reason = f"{why}; {cmp.summary()} over held-out {units}"
        return GateDecision(score_before=sum(before) / len(before), score_after=sum(after) / len(after),
                            accepted=accepted, reason=reason, comparison=cmp, min_gain=self.min_gain,
                            unit=self.unit)

    def compare(self, old: Prompt, new: Prompt, trajectories: Any) -> GateDecision:
        """Score both prompts on the same held-out data; accept ``new`` only if it is reliably better.

        ``trajectories``: a list or dataset of trajectories, an MLflow evaluation dataset, or a
        DataFrame of MLflow-shaped rows (``inputs``, optional ``expectations``).
        """
        items = held_out_trajectories(trajectories)
        chosen = [t for t in items if t.user_turns][: self.max_trajectories]
        if not chosen:
            raise ValidationError("The gate needs held-out trajectories with at least one user turn.")
        groups = [t.user or t.id for t in chosen]
        screen = None
        if self.scorer is not None and self._primary != "scorer":
            screen = self.decide(self.evaluate(old, chosen, how="scorer"), self.evaluate(new, chosen, how="scorer"),
                                 groups=groups)
            if screen.comparison is not None and screen.comparison.below(0.0):
                screen.reason = "pre-screen by the learned scorer, judge not called; " + screen.reason
                screen.accepted, screen.prescreened = False, True
                screen.scorer_comparison = screen.comparison
                return screen
        before_scores, after_scores = self.evaluate(old, chosen), self.evaluate(new, chosen)
        decision = self.decide(before_scores, after_scores, groups=groups)
        decision.per_trajectory = [(t.id, b, a) for t, b, a in zip(chosen, before_scores, after_scores)]
        if screen is not None:
            decision.scorer_comparison = screen.comparison
            if (self.scorer_role == "second_opinion" and not decision.accepted and screen.accepted
                    and screen.comparison is not None
                    and decision.comparison is not None and not decision.comparison.below(0.0)):
                decision.accepted = True
                decision.reason = (f"accepted on the learned scorer's second opinion (its lower bound "
                                   f"{screen.comparison.lower:+.3f} is above min_gain {self.min_gain:g}) while the "
                                   f"judge does not find the candidate reliably worse; judge: {decision.reason}")
        return decision
