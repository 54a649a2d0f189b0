"""Fixtures for the optimizer tests: scripted critiques / writers and the simulated world (stand-ins)."""

from __future__ import annotations

import pytest

from engram.trajectories import Trajectory

CRITIQUE = "prompt, guidance, trajectories, previous_critique -> reasoning, failure_modes, hypotheses, " \
           "recommendations, edit_warranted"
APPLY = "prompt, guidance, recommendations -> improved_prompt"
META = "prompt, guidance, trajectories -> reasoning, improved_prompt"
FOLD = "prompt, guidance, trajectories -> updated_prompt"


def critique(recommendations, warranted=None):
    return {"failure_modes": ["replies too long"] if recommendations else [],
            "hypotheses": ["no length rule"] if recommendations else [],
            "recommendations": list(recommendations),
            "edit_warranted": bool(recommendations) if warranted is None else warranted}


def convo(question: str, reply: str, score: float | None = None, comment: str | None = None, **kw) -> Trajectory:
    feedback = None if score is None and comment is None else {"score": score, "comment": comment}
    return Trajectory(messages=[{"role": "user", "content": question}, {"role": "assistant", "content": reply}],
                      feedback=feedback, **kw)


@pytest.fixture
def trajectories():
    return [convo("How do I reset my password?", "Well, there are many ways to think about this... " * 5,
                  0.0, "too long", user="u1"),
            convo("Where is my invoice?", "It is under Billing.", 1.0, "good", user="u2"),
            convo("Cancel my plan", "Sure! " * 30, 0.2, "way too long", user="u3")]


@pytest.fixture
def world():
    from engram.testing._world import World

    return World(seed=0)
