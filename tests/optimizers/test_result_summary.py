"""print(result) and a notebook cell show what an optimization decided, why, and what it spent."""

from __future__ import annotations

from engram.optimizers import Candidate, OptimizationResult
from engram.optimizers._gradient import GradientOptimizer
from engram.prompts import Prompt
from engram.testing._scripted import scripted_lm

from .conftest import APPLY, CRITIQUE, critique

PROMPT = Prompt(name="support", template="You help {company} customers.")


def test_an_accepted_edit_prints_verdict_spend_and_diff(trajectories):
    lm = scripted_lm({CRITIQUE: critique(["Keep replies under three sentences."]),
                      APPLY: {"improved_prompt": "You help {company} customers. Keep replies short."}})
    result = GradientOptimizer(lm)(trajectories, PROMPT)
    text = str(result)
    assert text.splitlines()[0] == "gradient on 'support': accepted"
    [spent] = [line for line in text.splitlines() if line.startswith("spent: ")]
    assert spent.startswith("spent: 2 LM calls, ") and f"{result.usage.total_tokens} tokens" in spent
    name = next(iter(result.usage.by_model))
    assert name in spent and (("offline stand-in" in spent) == name.startswith("offline/"))
    assert "+You help {company} customers. Keep replies short." in text  # the diff closes it
    assert text.endswith(result.diff.rstrip())


def test_a_rejected_candidate_prints_the_gate_s_reason_and_no_diff():
    candidate = Prompt(name="support", template="You help {company} customers. <b>Shout</b>.")
    result = OptimizationResult(
        prompt=PROMPT, original=PROMPT, optimizer="gradient", score_before=0.5, score_after=0.45,
        candidates=[Candidate(prompt=candidate, score=0.45,
                              reason="rejected: the lower bound -0.120 is not above min_gain 0")])
    text = result.summary()
    assert text.splitlines()[:3] == ["gradient on 'support': unchanged", "score: 0.500 -> 0.450",
                                     "gate: rejected: the lower bound -0.120 is not above min_gain 0"]
    assert "@@" not in text and "spent: 0 LM calls, 0 tokens" in text
    result.prompt = candidate  # accepted, for the markup check: a notebook shows text, not the template's tags
    result.accepted = True
    shown = result._repr_html_()
    assert shown.startswith("<pre>") and "&lt;b&gt;Shout&lt;/b&gt;" in shown and "<b>" not in shown
