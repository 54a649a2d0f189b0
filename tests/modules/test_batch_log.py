"""MemoryManager.process says why trajectories fail when none of them reaches the LM."""

from __future__ import annotations

import logging

from engram.modules._manager import MemoryManager
from engram.testing._scripted import scripted_lm
from engram.trajectories import Trajectory


def test_trajectories_that_cannot_fill_the_namespace_are_logged(store, caplog):
    lm = scripted_lm({"ops": "[]"})
    manager = MemoryManager(store, ("support", "{user_id}"), lm=lm)
    data = [Trajectory(messages=[{"role": "user", "content": f"question {i}"}]) for i in range(3)]
    with caplog.at_level(logging.WARNING):
        report = manager.process(data, progress=False)
    assert report.failed == 3 and not lm.engine.requests
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # one line for the lot, not one per trajectory
    assert "3 of 3 trajectories" in warnings[0] and "user_id" in warnings[0]
