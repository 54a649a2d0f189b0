"""What `engram run` refuses or says before any LM work: a changed config's old checkpoint,
an empty dataset, trajectories that cannot fill the memory namespace, a registry conflict.
Offline: stand-in LMs only."""

from __future__ import annotations


import pytest

from engram.runner import load_config, run_experiment
from engram.runner._yaml_source import ConfigError
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


def test_a_registry_variable_conflict_is_refused_before_any_work(write_config, tmp_path):
    from engram.tracking._registry import PromptRegistry

    PromptRegistry().register("support", "You help {company} customers.", "by hand")
    path = write_config()
    with pytest.raises(ConfigError, match="allow_variable_change: true") as info:
        run_experiment(load_config(path), progress=False, print_summary=False)
    assert info.value.field == "prompt.prompt.template" and "'company'" in str(info.value)
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was written

    # The runner's own setting passes through to the registry.
    path.write_text(path.read_text().replace("  export:", "  registry: {allow_variable_change: true}\n  export:"))
    result = run_experiment(load_config(path), progress=False, print_summary=False)
    assert result.summary["steps"]["registry"] == "done"
    assert PromptRegistry().load("support/2").template == load_config(path).prompt.prompt.template


def _with_data(path, data) -> None:
    text = path.read_text()
    old = next(line for line in text.splitlines() if line.startswith("  path: "))
    path.write_text(text.replace(old, f"  path: {data}"))


def test_an_empty_dataset_is_refused_before_any_work(write_config, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    path = write_config()
    _with_data(path, empty)
    with pytest.raises(ConfigError, match="has no trajectories") as info:
        run_experiment(load_config(path), progress=False, print_summary=False)
    assert info.value.field == "dataset.path"
    assert not (tmp_path / "out").exists()


def test_trajectories_that_cannot_fill_the_namespace_are_refused_before_any_work(write_config, tmp_path,
                                                                                   sim_data):
    from engram.trajectories import TrajectoryDataset

    data = TrajectoryDataset.load(sim_data)
    anonymous = tmp_path / "anonymous.jsonl"
    TrajectoryDataset([t.model_copy(update={"user": None}) for t in data]).save(anonymous)
    from tests.runner import memlm

    memlm.register()
    path = _memory_config(write_config, lm=f"offline/{memlm.NAME}", limit=4)
    _with_data(path, anonymous)
    with pytest.raises(ConfigError) as info:
        run_experiment(load_config(path), progress=False, print_summary=False)
    message = str(info.value)
    assert info.value.field == "memory.namespace"
    assert "trajectories" in message and "have no 'user'" in message and "change memory.namespace" in message
    assert "fill(" not in message and "configurable" not in message  # no Python advice
    assert not (tmp_path / "out").exists()
