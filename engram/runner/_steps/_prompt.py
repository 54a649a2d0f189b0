"""The prompt step: optimize a prompt from the training feedback, gated on held-out trajectories.

Each round runs the configured optimizer (gradient, metaprompt or prompt_memory) on the
training split, starting from the last accepted prompt; the candidate gate re-runs the
held-out trajectories under the old and the new prompt and accepts only a better one.
A round is checkpointed when it ends, so a resumed run starts at the next round. A round
whose LM calls failed is not a round: it is retried up to ``budget.max_consecutive_failures``
times (an unusable LM stops at once), and the step fails rather than keep the seed as if it
had been tried, so a run never promotes on a failed optimization.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engram.errors import ValidationError
from engram.prompts import Prompt, diff_templates
from engram.runner._lms import is_fatal
from engram.runner._steps._base import PromptOutput, StepContext, StepFailed, StepOutcome

if TYPE_CHECKING:
    from engram.optimizers import CandidateGate, PromptOptimizerBase
    from engram.runner._config import GateConfig, PromptConfig

STEP = "prompt"


def seed_prompt(cfg: PromptConfig) -> Prompt:
    """The prompt the config starts from (its template was read at load time if from a file)."""
    spec = cfg.prompt
    if spec.template is None:  # a config built without load_config, which reads template_file
        raise ValidationError(f"prompt {spec.name!r}: its template_file ({spec.template_file}) was "
                              f"never read; load the config with engram.runner.load_config")
    return Prompt(name=spec.name, template=spec.template, update_instructions=spec.update_instructions,
                  when_to_update=spec.when_to_update)


def build_gate(cfg: PromptConfig, lms: dict[str, Any]) -> CandidateGate | None:
    """The candidate gate of ``cfg.gate`` (see :func:`candidate_gate`), or None if it is disabled."""
    return candidate_gate(cfg.gate, lms) if cfg.gate.enabled else None


def candidate_gate(gate: GateConfig, lms: dict[str, Any]) -> CandidateGate:
    """A candidate gate with ``gate``'s settings (task LM re-runs held-out turns, the judge scores them)."""
    from engram.optimizers import CandidateGate, FeedbackJudge

    options: dict[str, Any] = {"min_improvement": gate.min_improvement}
    if gate.max_trajectories is not None:
        options["max_trajectories"] = gate.max_trajectories
    return CandidateGate(lms["task"], judge=FeedbackJudge(lm=lms["judge"]), **options)


def build_optimizer(cfg: PromptConfig, lms: dict[str, Any], gate: CandidateGate | None) -> PromptOptimizerBase:
    """The configured optimizer, through the library's factory (the one list of kinds).

    Its settings were checked against the optimizer's arguments when the config loaded.
    """
    from engram.optimizers import create_prompt_optimizer

    return create_prompt_optimizer(lms["reflection"], kind=cfg.optimizer.kind,
                                   config={**cfg.optimizer.settings, "gate": gate})


def run_prompt_step(ctx: StepContext, lms: dict[str, Any]) -> StepOutcome:
    """Optimize -> gate for ``rounds`` rounds; returns scores before / after and the final prompt."""
    cfg = ctx.config.required_prompt()
    seed = seed_prompt(cfg)
    state = ctx.checkpoint.state(STEP)
    rounds: list[dict[str, Any]] = list(state.get("rounds", []))
    current = seed.with_template(state["template"]) if "template" in state else seed
    gate = build_gate(cfg, lms)
    optimizer = build_optimizer(cfg, lms, gate)
    # nothing held out (one user): let the optimizer decide, and say, where its gate scores
    train, validation = list(ctx.train_split()), list(ctx.validation or []) or None
    task = ctx.progress.task(f"prompt ({cfg.optimizer.kind})", total=cfg.optimizer.rounds,
                             completed=len(rounds))
    critiques: list[str] = list(state.get("critiques", []))
    in_a_row, limit = 0, ctx.config.budget.max_consecutive_failures
    index = len(rounds)
    while index < cfg.optimizer.rounds:
        with ctx.metered() as usage:
            result = optimizer(train, current, validation=validation)
        if result.errors and not result.accepted:
            # The optimizer kept the prompt because its LM (or the gate) failed: that round did
            # not happen. It is retried, and never recorded, so nothing is promoted on its account.
            in_a_row += 1
            error = " ".join(result.errors[0].split())[:300]
            if is_fatal(error):
                raise StepFailed(f"the reflection / judge LM cannot answer ({error}); fix lms.reflection, "
                                 f"lms.judge (or ENGRAM_LM) and the API key, then re-run")
            if in_a_row >= limit:
                raise StepFailed(f"prompt round {index + 1} failed {in_a_row} times in a row "
                                 f"(budget.max_consecutive_failures={limit}), the last with: {error}; "
                                 f"re-run to retry (finished rounds are checkpointed)")
            ctx.budget.check(f"prompt round {index + 1} (retrying after: {error[:80]})")
            continue
        in_a_row = 0
        accepted = bool(result.accepted and result.improved)
        rounds.append({"round": index + 1, "score_before": result.score_before,
                       "score_after": result.score_after, "accepted": accepted,
                       "calls": usage.calls, "tokens": usage.total_tokens,
                       "rationale": result.rationale, "errors": result.errors})
        critiques.extend(result.critiques)
        if accepted:
            current = result.prompt
        ctx.checkpoint.add_items(STEP, [f"round-{index + 1}"], state={
            "rounds": rounds, "template": current.template, "critiques": critiques})
        ctx.progress.advance(task)
        ctx.budget.check(f"prompt round {index + 1}")
        index += 1
    baseline = None
    if gate is not None and not any(r["score_before"] is not None for r in rounds) and validation:
        # No candidate reached the gate: still report how the kept (seed) prompt scores.
        chosen = [t for t in validation if t.user_turns][: gate.max_trajectories]
        with ctx.metered():
            scores = [gate.score(seed, t) for t in chosen]
        baseline = sum(scores) / len(scores) if scores else None
        ctx.budget.check("prompt baseline")
    return _outcome(ctx, seed, current, rounds, critiques, baseline)


def _outcome(ctx: StepContext, seed: Prompt, final: Prompt, rounds: list[dict[str, Any]],
             critiques: list[str], baseline: float | None) -> StepOutcome:
    out_dir = ctx.run_dir / "prompt"
    out_dir.mkdir(parents=True, exist_ok=True)
    diff = diff_templates(seed.template, final.template, old_label=f"{seed.name} (seed)",
                          new_label=f"{seed.name} (optimized)")
    (out_dir / "diff.patch").write_text(diff or "(no change)\n", encoding="utf-8")
    (out_dir / "critiques.md").write_text("\n\n---\n\n".join(critiques) or "(none)\n", encoding="utf-8")
    (out_dir / "optimized.txt").write_text(final.text, encoding="utf-8")
    scored = [r for r in rounds if r["score_before"] is not None]
    before = scored[0]["score_before"] if scored else baseline
    accepted_scores = [r["score_after"] for r in rounds if r["accepted"] and r["score_after"] is not None]
    after = accepted_scores[-1] if accepted_scores else before
    changed = final.template != seed.template
    return StepOutcome(
        metrics={"score_before": before, "score_after": after, "accepted": changed,
                 "rounds": len(rounds), "rounds_accepted": sum(r["accepted"] for r in rounds)},
        output=PromptOutput(seed_template=_text(seed), template=_text(final), changed=changed,
                            score_before=before, score_after=after,
                            rationale=next((r["rationale"] for r in reversed(rounds) if r["accepted"]), "")),
        rounds=[{k: r[k] for k in ("round", "score_before", "score_after", "accepted")} for r in rounds],
        artifacts=[out_dir / "diff.patch", out_dir / "critiques.md", out_dir / "optimized.txt"],
        note="" if changed else _why_unchanged(rounds),
    )


def _text(prompt: Prompt) -> str:
    """The template, which is text: the config's seed is, and the optimizers keep a template's shape."""
    if not isinstance(prompt.template, str):
        raise StepFailed(f"prompt {prompt.name!r} became a chat template; the prompt step keeps text ones")
    return prompt.template


def _why_unchanged(rounds: list[dict[str, Any]]) -> str:
    if any(r["score_after"] is not None for r in rounds):
        return "no candidate beat the seed prompt on held-out trajectories; seed kept"
    reasons = {r["rationale"] for r in rounds if r.get("rationale")}
    return "seed kept: " + ("; ".join(sorted(reasons)) or "the optimizer proposed no change")
