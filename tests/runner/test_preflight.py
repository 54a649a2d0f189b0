"""What `engram run` refuses or says before any LM work: a changed config's old checkpoint,
an empty dataset, trajectories that cannot fill the memory namespace, a registry conflict.
Offline: stand-in LMs only."""

from __future__ import annotations


from engram.runner import load_config, run_experiment
from tests.runner.test_faults import _memory_config


def test_a_changed_config_says_its_old_checkpoint_was_set_aside(write_config, tmp_path):
    from tests.runner import memlm

    memlm.register()
    path = _memory_config(write_config, lm=f"offline/{memlm.NAME}", limit=2)
    run_experiment(load_config(path), progress=False, print_summary=False)
    path.write_text(path.read_text().replace("chunk_size: 2", "chunk_size: 1"))  # a new fingerprint
    said: list[str] = []
    run_experiment(load_config(path), progress=False, print_summary=False, log=said.append)
    stale = list((tmp_path / "out").glob("checkpoint.json.stale-*"))
    assert len(stale) == 1
    notes = [line for line in said if "starting over" in line]
    assert len(notes) == 1 and stale[0].name in notes[0]
