"""What every prompt optimizer shares: input checks, the LM context, the gate, the fallbacks.

A prompt optimizer is a ``dspy.Module``: ``optimizer(trajectories, prompt)`` returns an
:class:`OptimizationResult` and ``await optimizer.acall(trajectories, prompt)`` does the same
asynchronously. Subclasses implement :meth:`PromptOptimizerBase.propose`, which makes the LM
calls and returns a :class:`Proposal`; everything else lives here so the rules hold for all:

- **Never lose the prompt.** Any exception during the LM steps (timeouts, provider errors,
  unparsable output) is caught; the result carries the original prompt and the error text
  in ``result.errors``.
- **Nothing to learn from** (an empty list, or no trajectory with feedback when
  ``require_feedback`` is set): the original comes back with no LM call, and
  ``result.rationale`` says why. Invalid input (wrong types, an empty template) raises
  :class:`~engram.errors.ValidationError` / :class:`~engram.errors.TemplateError` at once.
- **Measure before accepting.** With a :class:`~engram.optimizers._gate.CandidateGate`, the
  candidate replaces the original only if it scores higher on held-out trajectories.
  ``val_fraction=0`` replays the training trajectories instead: a judge that never reads the
  logged feedback is not biased by seeing the same user messages, and the critique keeps all
  of its evidence (on the hard world: 0.36 of the gap instead of 0.28, seeds 100-139).
- **Listen to live feedback.** With ``rollback=True`` the optimizer remembers the users' scores
  of each prompt it was called with (the trajectories ran under it); when an earlier version
  did better with real users than the current one, it edits from that one instead
  (:mod:`engram.optimizers._live`; ``result.metadata["rolled_back_to"]`` says so).
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
import numbers
from dataclasses import dataclass, field
from typing import Any

import dspy

import engram.events as events
from engram.errors import EngramError, ValidationError
from engram.lm import context_runner, resolve, track_usage
from engram.optimizers._formatting import (
    DEFAULT_MAX_MESSAGE_CHARS,
    DEFAULT_MAX_TOKENS,
    Rendered,
    coerce_trajectories,
    format_trajectories,
)
from engram.optimizers._invoke import PromptOptimizerRunnable
from engram.optimizers._live import LiveRecord
from engram.optimizers._result import Candidate, OptimizationResult
from engram.prompts import Prompt
from engram.trajectories import Trajectory, TrajectoryDataset


@dataclass
class Proposal:
    """What :meth:`PromptOptimizerBase.propose` found: a new prompt (or None) and its paper trail."""

    prompt: Prompt | None
    rationale: str = ""
    critiques: list[str] = field(default_factory=list)
    steps: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (template text, reason)
    metadata: dict[str, Any] = field(default_factory=dict)


class LMRef:
    """Holds an LM on a module without deep-copying it.

    DSPy optimizers deep-copy the programs they compile; an LM (with its client, cache and
    locks) must be shared, not copied, so a compiled optimizer still talks to the same model.
    """

    def __init__(self, value: Any = None):
        self.value = value

    def __deepcopy__(self, memo: dict) -> LMRef:
        return self

    def __repr__(self) -> str:
        return f"LMRef({self.value!r})"


def check_number(value: Any, name: str, *, integer: bool = False, example: Any = None) -> None:
    """Raise :class:`ValidationError` unless ``value`` is a number (an int when ``integer``); bools are refused."""
    wanted = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, wanted):
        kind = "an integer" if integer else "a number"
        hint = f" such as {name}={example!r}" if example is not None else ""
        raise ValidationError(f"{name} must be {kind}{hint}, got {type(value).__name__} {value!r}.")


# Names people reach for, and the keyword that does that job.
_ALIASES = {"max_steps": "max_reflection_steps", "max_step": "max_reflection_steps", "steps": "max_reflection_steps",
            "min_steps": "min_reflection_steps", "validation_fraction": "val_fraction", "val_split": "val_fraction",
            "batch_size": "minibatch_size"}


def keyword_names(cls: type, stop: type) -> list[str]:
    """The keyword arguments ``cls(...)`` takes: those of every ``__init__`` from ``cls`` up to ``stop``."""
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            for param in inspect.signature(vars(klass)["__init__"]).parameters.values():
                if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY) and param.name != "self":
                    names.append(param.name)
        if klass is stop:
            break
    return sorted(set(names))


def unknown_keywords_message(owner: str, unknown: list[str], valid: list[str],
                             aliases: dict[str, str] | None = None, *, noun: str = "keyword") -> str:
    """``owner got unknown keyword argument(s) 'x' (did you mean 'y'?). Valid keywords: ...``"""
    aliases = {**_ALIASES, **(aliases or {})}
    aliases = {k: v for k, v in aliases.items() if v in valid}
    hints = []
    for name in unknown:
        close = [aliases[name]] if aliases and name in aliases else difflib.get_close_matches(name, valid, n=1)
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    what = "keyword argument(s)" if noun == "keyword" else f"{noun}(s)"
    return f"{owner} got unknown {what} {'; '.join(hints)}. Valid {noun}s: {', '.join(valid)}."


def coerce_prompt(prompt: Any, *, name: str = "prompt") -> Prompt:
    """A Prompt from what users pass (a Prompt, a string, a message list, a LangMem-style dict)."""
    if isinstance(prompt, dict) and "prompt" in prompt and "template" not in prompt:
        # LangMem's Prompt TypedDict: {"name", "prompt", "update_instructions", "when_to_update"}
        prompt = {"template": prompt["prompt"], **{k: v for k, v in prompt.items() if k != "prompt"}}
    if isinstance(prompt, str) and not prompt.strip():
        raise ValidationError("The prompt is empty; pass the current prompt text (or an engram.Prompt) to improve.")
    try:
        return Prompt.coerce(prompt, name=name)
    except EngramError:
        raise
    except ValueError as err:  # pydantic: an empty template, a malformed chat message
        raise ValidationError(f"The prompt is not valid: {err}") from err


class PromptOptimizerBase(events.SpanOnCall, PromptOptimizerRunnable, dspy.Module):  # + LangMem's invoke
    """Base class of the single-prompt optimizers (see the module docstring for the rules).

    Args:
        lm: the reflection LM (a name or a ``dspy.LM``); default: the configured reflection LM.
        gate: a :class:`~engram.optimizers._gate.CandidateGate` to check candidates, or None.
        val_fraction: the share of trajectories held out for the gate when no ``validation`` is given.
        max_tokens / max_message_chars: the trajectory budget (see :mod:`engram.optimizers._formatting`).
        require_feedback: skip (no LM call) when no trajectory carries feedback.
        rollback: remember each prompt's live scores across calls and edit from the version
            users liked best when the current one did worse (see the module docstring).
        rollback_confidence: None (the higher mean wins) or the confidence of Welch's interval
            an earlier version's lead must clear.
    """

    kind = "base"

    def __init__(self, lm: Any = None, *, gate: Any = None, val_fraction: float = 0.3,
                 max_tokens: int = DEFAULT_MAX_TOKENS, max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
                 require_feedback: bool = True, rollback: bool = False, rollback_confidence: float | None = None,
                 **unknown: Any):
        super().__init__()
        if unknown:
            raise ValidationError(unknown_keywords_message(
                type(self).__name__, sorted(unknown), keyword_names(type(self), PromptOptimizerBase)))
        if gate is not None and not callable(getattr(gate, "compare", None)):
            raise ValidationError(
                f"gate must be a CandidateGate (or an object with compare(old, new, trajectories)) or None, got "
                f"{type(gate).__name__} {gate!r}; e.g. gate=CandidateGate(judge=FeedbackJudge()).")
        check_number(val_fraction, "val_fraction", example=0.3)
        check_number(max_tokens, "max_tokens", integer=True, example=DEFAULT_MAX_TOKENS)
        check_number(max_message_chars, "max_message_chars", integer=True, example=DEFAULT_MAX_MESSAGE_CHARS)
        if max_tokens < 1 or max_message_chars < 1:
            raise ValidationError(f"max_tokens and max_message_chars must be at least 1, got {max_tokens} and "
                                  f"{max_message_chars}.")
        for flag, value in (("require_feedback", require_feedback), ("rollback", rollback)):
            if not isinstance(value, bool):
                raise ValidationError(f"{flag} must be True or False, got {type(value).__name__} {value!r}.")
        if rollback_confidence is not None:
            check_number(rollback_confidence, "rollback_confidence", example=0.9)
        if not 0.0 <= val_fraction < 1.0:
            raise ValidationError(f"val_fraction must be in [0, 1) (0: the gate replays the training trajectories), "
                                  f"got {val_fraction}.")
        self._lm = LMRef(lm)
        self.gate = gate
        self.val_fraction = val_fraction
        self.max_tokens = max_tokens
        self.max_message_chars = max_message_chars
        self.require_feedback = require_feedback
        self.rollback = rollback
        self._live = LiveRecord(rollback_confidence)

    # -- to implement --------------------------------------------------------------------
    def propose(self, trajectories: list[Trajectory], prompt: Prompt, rendered: Rendered) -> Proposal:
        raise NotImplementedError

    # -- the shared flow -------------------------------------------------------------------
    def render(self, trajectories: list[Trajectory]) -> Rendered:
        return format_trajectories(trajectories, max_tokens=self.max_tokens,
                                   max_message_chars=self.max_message_chars)

    def _span(self, args: tuple, kwargs: dict[str, Any]) -> Any:
        if not events.listeners():
            return events.span("optimization", self.kind)
        trajectories = args[0] if args else kwargs.get("trajectories", [])
        prompt = args[1] if len(args) > 1 else kwargs.get("prompt")
        name = coerce_prompt(prompt).name  # invalid input raises here as it would in forward
        return events.span("optimization", f"{self.kind}:{name}", self.tracking_params(),
                           data=coerce_trajectories(trajectories))

    def tracking_params(self) -> dict[str, Any]:
        """The settings a tracked run records as parameters (the scalar public attributes)."""
        params = {k: v for k, v in vars(self).items()
                  if not k.startswith("_") and (v is None or isinstance(v, (str, int, float, bool)))}
        params["gate"] = type(self.gate).__name__ if self.gate is not None else "none"
        return params

    def forward(self, trajectories: Any, prompt: Any, validation: Any = None) -> OptimizationResult:
        """Optimize ``prompt`` from ``trajectories``; ``validation`` (optional) feeds the gate."""
        original = coerce_prompt(prompt)
        items = coerce_trajectories(trajectories)
        held_out = coerce_trajectories(validation) if validation is not None else None
        if held_out == [] and self.gate is not None:
            raise ValidationError(
                "validation= is empty, so the gate would score the candidate on the training trajectories. "
                "Pass held-out trajectories, or validation=None to let the optimizer hold out val_fraction of "
                "the training ones (val_fraction=0 scores on the training data on purpose). An empty split "
                "usually means every trajectory shares one user or thread.")
        result = OptimizationResult(prompt=original, original=original, optimizer=self.kind)

        learn_from = [t for t in items if t.feedback is not None and not t.feedback.is_empty]
        if not items:
            result.rationale = "No trajectories were given, so there is nothing to learn from; prompt unchanged."
            return result
        if self.require_feedback and not learn_from:
            result.rationale = (f"None of the {len(items)} trajectories carries feedback (score, label or "
                                "comment); prompt unchanged. Add feedback or pass require_feedback=False.")
            return result
        if not self.require_feedback:
            learn_from = items

        base = self._rolled_back(result, original, learn_from)
        train, held_out = self._split_for_gate(learn_from, held_out)
        if (validation is None and self.gate is not None and getattr(self.gate, "reuse_logged", False)
                and base is original):
            self.gate.remember(base, held_out or train)  # these ran under ``base``: their replies are its replays
        if self.gate is not None and hasattr(self.gate, "learn"):
            self.gate.learn(learn_from)  # the users' scores teach the gate's learned scorer (learn_scorer=True)
        lm = resolve("reflection", self._lm.value)  # ConfigurationError when nothing is configured: raise it
        with track_usage() as usage:
            self._run(result, base, train, held_out, lm)
        if base is not original:
            live = result.metadata["live_scores"]
            result.rationale = (f"Users scored an earlier version higher ({live['rolled_back_to']:.3f} against "
                                f"{live['current']:.3f} for the current prompt), so it was edited from that one. "
                                + result.rationale)
        result.usage = usage
        return result

    async def aforward(self, trajectories: Any, prompt: Any, validation: Any = None) -> OptimizationResult:
        # The LM steps are synchronous DSPy calls; run them off the event loop, in the caller's context.
        return await asyncio.to_thread(context_runner(self.forward), trajectories, prompt, validation)

    def _rolled_back(self, result: OptimizationResult, original: Prompt, items: list[Trajectory]) -> Prompt:
        """The prompt to edit: ``original``, or (``rollback``) the earlier version users scored higher."""
        if not self.rollback:
            return original
        self._live.add_logs(original, items)
        earlier = self._live.better_than(original)
        if earlier is None:
            return original
        base = original.model_copy(update={"template": earlier.template})
        result.prompt = base
        result.metadata["rolled_back_to"] = earlier.text
        result.metadata["live_scores"] = {"current": self._live.mean(original), "rolled_back_to": self._live.mean(earlier)}
        return base

    def _split_for_gate(self, items: list[Trajectory], held_out: list[Trajectory] | None):
        if self.gate is None or held_out is not None:
            return items, held_out
        if len(items) < 4 or self.val_fraction == 0.0:  # too few to hold any out: the gate scores on the same trajectories
            return items, items
        train, val = TrajectoryDataset(items).split_quietly(self.val_fraction, seed=0)  # an empty side: handled here
        if not len(train) or not len(val):
            return items, items
        return list(train), list(val)

    def _run(self, result: OptimizationResult, original: Prompt, train: list[Trajectory],
             held_out: list[Trajectory] | None, lm: Any) -> None:
        rendered = self.render(train)
        result.metadata["trajectories"] = len(train)
        if self.gate is not None:
            result.metadata["held_out"] = len(held_out or [])
            # Too few trajectories to hold any out (or none given): the gate scores on the training
            # ones, and says so here. The gate's set below is ``held_out or train``: the same test.
            result.metadata["gate_on_training_data"] = not held_out or held_out is train
        if rendered.truncated:
            result.metadata["omitted_trajectories"] = rendered.omitted
        try:
            with dspy.context(lm=lm):
                proposal = self.propose(train, original, rendered)
        except Exception as err:  # noqa: BLE001  (never lose the prompt: LM faults and bad output land here)
            result.errors.append(f"{type(err).__name__}: {err}")
            result.rationale = "The optimizer failed; the original prompt is returned unchanged."
            return
        result.rationale = proposal.rationale
        result.critiques = proposal.critiques
        result.steps = proposal.steps
        result.metadata.update(proposal.metadata)
        for text, reason in proposal.rejected:
            draft = original.model_copy(update={"template": text}) if text.strip() else original
            result.candidates.append(Candidate(prompt=draft, accepted=False, reason=f"rejected: {reason}"))
        if proposal.prompt is None or proposal.prompt.template == original.template:
            return
        candidate = Candidate(prompt=proposal.prompt, round=proposal.steps)
        result.candidates.append(candidate)
        if self.gate is None:
            candidate.accepted, candidate.reason = True, "no gate configured"
            result.prompt, result.accepted = proposal.prompt, True
            return
        try:
            decision = self.gate.compare(original, proposal.prompt, held_out or train)
        except Exception as err:  # noqa: BLE001  (a broken gate must not lose the prompt)
            result.errors.append(f"gate failed: {type(err).__name__}: {err}")
            candidate.reason = "the gate could not score the candidate; original kept"
            return
        result.score_before, result.score_after = decision.score_before, decision.score_after
        candidate.score, candidate.reason = decision.score_after, decision.reason
        if decision.accepted:
            candidate.accepted = True
            result.prompt, result.accepted = proposal.prompt, True
