"""MultiPromptOptimizer: improve the prompts of a compound system from end-to-end feedback.

A pipeline (a router, a responder, a summarizer...) gets one piece of feedback for the
whole conversation. The optimizer first decides which prompts the feedback concerns:

1. **Provenance**, when the data says which module produced what: a trajectory's
   ``prompt_name``, ``metadata["prompt_names"]`` (a list) or the ``name`` of its assistant
   messages. A trajectory produced by exactly one known prompt concerns that prompt.
2. **Attribution by the LM** for the rest, when there is more than one candidate prompt:
   one ``AttributeFeedback`` call reads every prompt's ``when_to_update`` note and text and
   the feedback, and names the prompts to update. A single prompt needs no call.

Then it optimizes the chosen prompts **concurrently** (threads that carry the DSPy context
and usage tracking), each with its own trajectories. To keep them **consistent**, each
prompt's optimizer sees the other prompts of the system in its guidance (so it does not
duplicate or contradict their rules), and an instruction line added to more than one prompt
is kept only in the first prompt (in the order given) and reported in ``shared_edits``.

Example::

    router_prompt = Prompt(name="router", template="Route the customer's message to billing or tech.")
    responder_prompt = Prompt(name="responder", template="You help {company} customers.")
    optimizer = MultiPromptOptimizer(lm="openai/gpt-4o-mini", kind="gradient")
    result = optimizer(trajectories, [router_prompt, responder_prompt])
    result.prompts            # in the order given; unchanged ones are the originals
    result.updated            # names of the prompts that changed
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dspy
from pydantic import BaseModel, ConfigDict, Field

import engram.events as events
from engram.errors import ValidationError
from engram.lm import Usage, context_runner, resolve, track_usage
from engram.optimizers._base import LMRef, coerce_prompt
from engram.optimizers._factory import OptimizerKind
from engram.optimizers._formatting import coerce_trajectories, format_trajectories
from engram.optimizers._invoke import MultiPromptOptimizerRunnable
from engram.optimizers._result import OptimizationResult
from engram.optimizers._signatures import AttributeFeedback
from engram.prompts import Prompt
from engram.trajectories import Trajectory


class MultiPromptResult(BaseModel):
    """Per-prompt results of a multi-prompt optimization."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    prompts: list[Prompt]
    results: dict[str, OptimizationResult] = Field(default_factory=dict)
    attribution: dict[str, list[str]] = Field(default_factory=dict)  # prompt name -> trajectory ids
    attributed_by: dict[str, str] = Field(default_factory=dict)  # prompt name -> "provenance" | "lm"
    shared_edits: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    errors: list[str] = Field(default_factory=list)

    @property
    def updated(self) -> list[str]:
        return [name for name, r in self.results.items() if r.improved]


def provenance(trajectory: Trajectory, names: set[str]) -> set[str]:
    """The known prompts a trajectory says produced it (prompt_name, metadata, message names)."""
    found: set[str] = set()
    if trajectory.prompt_name in names:
        found.add(trajectory.prompt_name)
    listed = trajectory.metadata.get("prompt_names") or trajectory.metadata.get("modules") or []
    found.update(n for n in listed if n in names)
    found.update(m.name for m in trajectory.messages if m.role == "assistant" and m.name in names)
    return found


def describe_prompts(prompts: list[Prompt]) -> str:
    """The prompts block the attribution step reads (name, when to update, text)."""
    blocks = []
    for p in prompts:
        blocks.append(f"### name: {p.name}\nwhen to update: {p.when_to_update or 'not specified'}\n"
                      f"prompt:\n{p.text}")
    return "\n\n".join(blocks)


def _negative(t: Trajectory) -> bool:
    return t.score is None or t.score < 1.0


class MultiPromptOptimizer(events.SpanOnCall, MultiPromptOptimizerRunnable, dspy.Module):  # + LangMem's invoke
    """Attribute feedback to prompts, then optimize those prompts concurrently (see the module docstring).

    Args:
        lm: the reflection LM (name or ``dspy.LM``); default: the configured one.
        kind: the single-prompt optimizer for each prompt: ``"gradient"``, ``"metaprompt"``
            or ``"prompt_memory"``.
        config: keyword arguments for that optimizer (e.g. ``{"max_reflection_steps": 2}``).
        max_workers: how many prompts are optimized at once.
    """

    def __init__(self, lm: Any = None, *, kind: OptimizerKind = "gradient", config: dict[str, Any] | None = None,
                 max_workers: int = 4):
        super().__init__()
        from engram.optimizers._factory import create_prompt_optimizer

        self._lm = LMRef(lm)
        self.kind = kind
        self.max_workers = max_workers
        self.attribute = dspy.Predict(AttributeFeedback)
        # One inner optimizer module: its predictors are compiled once for all prompts.
        self.inner = create_prompt_optimizer(lm, kind=kind, config=config)

    def _span(self, args: tuple, kwargs: dict[str, Any]) -> Any:
        # engram.autolog(): one parent run around the call; each prompt's optimization nests under it.
        if not events.listeners():
            return events.span("optimization", "multi_prompt")
        trajectories = args[0] if args else kwargs.get("trajectories", [])
        prompts = args[1] if len(args) > 1 else kwargs.get("prompts")
        try:  # invalid input is reported by forward, inside the run
            names = [coerce_prompt(p, name=f"prompt_{i}").name for i, p in enumerate(prompts)] \
                if isinstance(prompts, (list, tuple)) else []
        except Exception:  # noqa: BLE001
            names = []
        params = {"kind": self.kind, "max_workers": self.max_workers, "prompts": names}
        return events.span("optimization", f"multi_prompt:{'+'.join(names)}"[:250], params,
                           data=coerce_trajectories(trajectories))

    def forward(self, trajectories: Any, prompts: Any) -> MultiPromptResult:
        items = coerce_trajectories(trajectories)
        plist = ([coerce_prompt(p, name=f"prompt_{i}") for i, p in enumerate(prompts)]
                 if isinstance(prompts, (list, tuple)) else None)
        if not plist:
            raise ValidationError("Pass the system's prompts as a non-empty list of Prompts (or strings).")
        names = [p.name for p in plist]
        if len(set(names)) != len(names):
            raise ValidationError(f"Prompt names must be unique to tell them apart, got {names}.")
        result = MultiPromptResult(prompts=plist)
        with track_usage() as usage:
            try:
                self._optimize(items, plist, result)
            except Exception as err:  # noqa: BLE001  (never lose the prompts)
                result.errors.append(f"{type(err).__name__}: {err}")
                result.prompts = plist
        result.usage = usage
        return result

    async def aforward(self, trajectories: Any, prompts: Any) -> MultiPromptResult:
        return await asyncio.to_thread(context_runner(self.forward), trajectories, prompts)

    # -- steps -------------------------------------------------------------------------------
    def attribute_feedback(self, items: list[Trajectory],
                           prompts: list[Prompt]) -> tuple[dict[str, list[Trajectory]], dict[str, str]]:
        """prompt name -> the trajectories whose feedback concerns it, and how that was decided."""
        names = {p.name for p in prompts}
        by_prompt: dict[str, list[Trajectory]] = {p.name: [] for p in prompts}
        how: dict[str, str] = {}
        ambiguous: list[Trajectory] = []
        for t in items:
            if t.feedback is None or t.feedback.is_empty:
                continue
            source = provenance(t, names)
            if len(source) == 1:
                name = source.pop()
                by_prompt[name].append(t)
                how[name] = "provenance"
            else:
                ambiguous.append(t)
        if ambiguous:
            # Trajectories that name several prompts narrow the choice to those; none -> all prompts.
            named = set().union(*(provenance(t, names) for t in ambiguous))
            candidates = [p for p in prompts if not named or p.name in named]
            if len(candidates) == 1:
                chosen = [candidates[0].name]
            elif any(_negative(t) for t in ambiguous):
                with dspy.context(lm=resolve("reflection", self._lm.value)):
                    pred = self.attribute(prompts=describe_prompts(candidates),
                                          trajectories=format_trajectories(ambiguous).text)
                chosen = [n for n in (pred.prompt_names or []) if n in {c.name for c in candidates}]
            else:
                chosen = []
            for name in chosen:
                by_prompt[name].extend(ambiguous)
                how.setdefault(name, "lm")
        return {n: ts for n, ts in by_prompt.items() if ts}, how

    def _optimize(self, items: list[Trajectory], prompts: list[Prompt], result: MultiPromptResult) -> None:
        chosen, how = self.attribute_feedback(items, prompts)
        result.attribution = {n: [t.id for t in ts] for n, ts in chosen.items()}
        result.attributed_by = how
        if not chosen:
            return

        def run(prompt: Prompt) -> OptimizationResult:
            others = [p for p in prompts if p.name != prompt.name]
            context = prompt.update_instructions or ""
            if others:
                context += ("\n" if context else "") + "Other prompts in this system (stay consistent with them; " \
                    "do not repeat their rules): " + "; ".join(f"{o.name}: {o.text[:300]}" for o in others)
            working = prompt.model_copy(update={"update_instructions": context or None})
            out = self.inner(chosen[prompt.name], working)
            restore = {"update_instructions": prompt.update_instructions}
            out.prompt = out.prompt.model_copy(update=restore)
            out.original = prompt
            return out

        targets = [p for p in prompts if p.name in chosen]
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_workers, len(targets)))) as pool:
            outcomes = list(pool.map(context_runner(run), targets))
        result.results = {p.name: r for p, r in zip(targets, outcomes)}
        for r in outcomes:
            result.errors.extend(f"{r.original.name}: {e}" for e in r.errors)
        self._dedupe_shared_edits(prompts, result)
        result.prompts = [result.results[p.name].prompt if p.name in result.results else p for p in prompts]

    @staticmethod
    def _dedupe_shared_edits(prompts: list[Prompt], result: MultiPromptResult) -> None:
        seen: set[str] = set()
        for p in prompts:
            r = result.results.get(p.name)
            if r is None or not r.improved or not isinstance(r.prompt.template, str):
                continue
            before = {line.strip() for line in p.text.splitlines()}
            kept = []
            for line in r.prompt.template.splitlines():
                key = re.sub(r"\s+", " ", line.strip().lower())
                if line.strip() and line.strip() not in before and key in seen:
                    result.shared_edits.append(line.strip())
                    continue
                if line.strip() not in before:
                    seen.add(key)
                kept.append(line)
            new_text = "\n".join(kept)
            if new_text != r.prompt.template and new_text.strip():
                r.prompt = r.prompt.with_template(new_text)


def create_multi_prompt_optimizer(lm: Any = None, *, kind: OptimizerKind = "gradient",
                                  config: dict[str, Any] | None = None,
                                  max_workers: int = 4) -> MultiPromptOptimizer:
    """A :class:`MultiPromptOptimizer` whose per-prompt steps are ``kind`` (LangMem's name for it)."""
    return MultiPromptOptimizer(lm, kind=kind, config=config, max_workers=max_workers)
