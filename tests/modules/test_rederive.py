"""Provenance stamps the extractor; MemoryManager.rederive replaces what one extractor wrote (offline)."""

from __future__ import annotations

import json
import re

import pytest

from engram.errors import NotFoundError, ValidationError
from engram.modules import MemoryManager
from engram.prompts import Prompt
from engram.store import Provenance
from engram.testing import scripted_lm
from engram.trajectories import Trajectory, TrajectoryDataset

NS = ("memories", "u1")
SAID = ["I live in Lisbon.", "I work at Acme.", "I play chess."]


def _follows_instructions(call):
    """A stand-in extractor: one memory per user sentence, in the case its instructions ask for."""
    upper = "upper case" in call.instructions
    ops = []
    for line in call.inputs.get("conversation", "").splitlines():
        if line.startswith("user: "):
            said = line[len("user: "):]
            fact = re.sub(r"^I ", "The user ", said)
            ops.append({"op": "insert", "content": fact.upper() if upper else fact, "quote": said})
    return {"ops": "\n".join(json.dumps(o) for o in ops)}


def _dataset(said=SAID):
    return TrajectoryDataset([Trajectory(id=f"t{i}", messages=[{"role": "user", "content": s}], user="u1")
                              for i, s in enumerate(said)])


def _manager(store, instructions):
    return MemoryManager(store, lm=scripted_lm(_follows_instructions, name="offline/follows"),
                         instructions=instructions)


def _texts(store):
    return sorted(r.text for r in store.list(NS, limit=1000))


def test_writes_stamp_program_prompt_and_lm(store):
    prompt = Prompt(name="extractor", template="Write memories in lower case.", version="3")
    manager = _manager(store, prompt)
    manager.process(_dataset(), progress=False)
    stamps = {tuple(sorted(p.identity().items())) for r in store.list(NS) for p in r.provenance}
    assert stamps == {tuple(sorted(manager.identity().items()))}
    ident = manager.identity()
    assert ident["prompt_name"] == "extractor" and ident["prompt_version"] == "3"
    assert ident["lm"] == "offline/follows" and len(ident["program"]) == 12
    # other instructions are another program; records stored before the stamps existed still load
    assert _manager(store, "Write memories in upper case.").identity()["program"] != ident["program"]
    assert Provenance(trajectory_id="t0", quote="x").identity() == {}


def test_rederive_replaces_what_extractor_a_wrote_and_undo_restores(store):
    a = _manager(store, "Write memories in lower case.")
    a.process(_dataset(), progress=False)
    before = _texts(store)
    b = _manager(store, "Write memories in upper case.")
    report = b.rederive({"user_id": "u1"}, written_by=a.identity()["program"], trajectories=_dataset())
    after = _texts(store)
    assert after == sorted(t.upper() for t in before) and after != before
    assert sorted(report.trajectories) == ["t0", "t1", "t2"] and len(report.replaced) == 3 and report.complete
    assert {p.program for r in store.list(NS) for p in r.provenance} == {b.identity()["program"]}
    report.undo(store)
    assert _texts(store) == before


def test_memories_whose_trajectories_are_not_given_are_kept(store):
    a = _manager(store, "Write memories in lower case.")
    a.process(_dataset(), progress=False)
    b = _manager(store, "Write memories in upper case.")
    report = b.rederive(NS, written_by="offline/follows", trajectories=_dataset(SAID[:2]))
    assert list(report.missing.values()) == [["t2"]]
    assert sorted(_texts(store)) == sorted(["THE USER LIVE IN LISBON.", "THE USER WORK AT ACME.", "The user play chess."])


def test_by_prompt_version_and_nothing_to_do(store):
    prompt = Prompt(name="extractor", template="Write memories in lower case.", version="1")
    _manager(store, prompt).process(_dataset(), progress=False)
    b = _manager(store, "Write memories in upper case.")
    assert b.rederive(NS, written_by="extractor@2", trajectories=_dataset()).changed is False
    assert b.rederive(NS, written_by="extractor@1", trajectories=_dataset()).changed is True


def test_bad_input_is_refused(store):
    a = _manager(store, "Write memories in lower case.")
    a.process(_dataset(), progress=False)
    with pytest.raises(ValidationError, match="written_by"):
        a.rederive(NS, written_by=" ", trajectories=_dataset())
    with pytest.raises(NotFoundError):
        a.rederive({"user_id": "nobody"}, written_by="offline/follows", trajectories=_dataset())
