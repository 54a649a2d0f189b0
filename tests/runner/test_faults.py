"""Issue 11's runner items under faults: only applied trajectories are checkpointed and failed ones
are retried (4), the Chroma server setting is honoured (10), totals after a resume count every
attempt (15), an unusable LM stops the run at once and a failed run never promotes (16), and
two configs with one name do not clobber each other (17). Offline: stand-in LMs only."""

from __future__ import annotations

import json

import pytest

from engram.errors import EngramError, LMError
from engram.runner import load_config, run_experiment

FLAKY = "runner-flaky"
FAULTS = {"rate": 0.0}  # the flaky stand-in's fault rate, read each time a run builds it


def _register_flaky() -> None:
    from engram.testing import faulty_lm, register_offline_lm, scripted_lm
    from tests.runner import memlm

    def build(**kw):
        base = scripted_lm(memlm._answer, name=f"offline/{FLAKY}", **kw)
        return faulty_lm(base, rate=FAULTS["rate"], kinds=("exception",), seed=3, name=f"offline/{FLAKY}")

    register_offline_lm(FLAKY, build, "runner tests: memlm with injected provider errors")


def _memory_config(write_config, *, lm: str = f"offline/{FLAKY}", limit: int = 12, budget: str = "",
                   name: str = "exp.yaml", chunk_size: int = 2):
    path = write_config(name=name, memory=True, budget=budget)
    text = path.read_text().replace("task: offline/support", f"task: {lm}")
    text = text.replace("  split: {val_fraction", f"  limit: {limit}\n  split: {{val_fraction")
    text = text.replace("chunk_size: 2", f"chunk_size: {chunk_size}")
    path.write_text(text.replace("prompt:\n  prompt:", "prompt:\n  enabled: false\n  prompt:"))
    return path


def _live_memories(store) -> int:
    return sum(store.count(ns) for ns in store.list_namespaces(prefix=("support",)) if len(ns) == 2)


@pytest.fixture
def flaky(monkeypatch):
    _register_flaky()
    monkeypatch.setitem(FAULTS, "rate", 0.0)
    return FAULTS


def test_failed_trajectories_are_not_checkpointed_and_are_retried(write_config, tmp_path, flaky, monkeypatch):
    """Item 4: a failed trajectory stays pending; the re-run applies exactly the failed ones."""
    path = _memory_config(write_config, budget="{max_consecutive_failures: 100}")
    flaky["rate"] = 0.5
    with pytest.raises(EngramError, match="trajectories failed"):
        run_experiment(load_config(path), progress=False, print_summary=False)
    ckpt = json.loads((tmp_path / "out" / "checkpoint.json").read_text())
    applied = set(ckpt["steps"]["memory"]["items"])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["steps"] == {"memory": "failed"} and "memory" in summary["failures"]
    assert 0 < len(applied) < 12

    from engram.modules import _batch as batch

    processed: list[str] = []
    original = batch.process

    def spy(manager, dataset, **kwargs):
        processed.extend(t.id for t in dataset)
        return original(manager, dataset, **kwargs)

    monkeypatch.setattr(batch, "process", spy)
    flaky["rate"] = 0.0
    result = run_experiment(load_config(path), progress=False, print_summary=False)
    assert result.summary["steps"] == {"memory": "done"}
    assert processed and not set(processed) & applied       # only the failed ones ran again
    from engram.store import MemoryStore

    store = MemoryStore.persistent(tmp_path / "out" / "chroma")
    assert _live_memories(store) == 12                        # one memory per trajectory, none lost
    # Item 15: the totals count both attempts and agree with the store.
    assert result.summary["memories_written"] == 12 == result.summary["memories_in_store"]
    assert result.summary["calls"] > result.summary["calls_this_attempt"] > 0


def test_consecutive_lm_failures_stop_the_run(write_config, tmp_path, flaky, monkeypatch):
    """Item 16: a run stops after budget.max_consecutive_failures failures in a row."""
    from engram.modules import _batch as batch

    seen: list[str] = []
    original = batch.process
    monkeypatch.setattr(batch, "process", lambda m, d, **kw: (seen.extend(t.id for t in d), original(m, d, **kw))[1])
    path = _memory_config(write_config, budget="{max_consecutive_failures: 3}")
    flaky["rate"] = 1.0
    with pytest.raises(EngramError, match=r"failed in a row \(budget.max_consecutive_failures=3\)"):
        run_experiment(load_config(path), progress=False, print_summary=False)
    # It stops long before all 12 (trajectories held behind a failed namespace are not sent).
    assert 3 <= len(seen) <= 6


def test_a_failed_step_never_registers_or_promotes(write_config, tmp_path, flaky):
    """Item 16: memory failed, so the prompt step, registry and export do not run."""
    path = write_config(memory=True, budget="{max_consecutive_failures: 100}")
    text = path.read_text().replace("  split: {val_fraction", "  limit: 6\n  split: {val_fraction")
    text = text.replace("lms:\n  task: offline/support", f"lms:\n  task: offline/{FLAKY}\n  reflection: "
                                                          f"offline/support\n  judge: offline/support")
    path.write_text(text)
    flaky["rate"] = 1.0
    with pytest.raises(EngramError):
        run_experiment(load_config(path), progress=False, print_summary=False)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["steps"] == {"memory": "failed"} and summary["failures"]["memory"]
    from engram.tracking import PromptRegistry

    assert "support" not in PromptRegistry().list()


def test_a_model_without_an_api_key_stops_before_any_work(write_config, tmp_path, monkeypatch):
    """Item 16: one error naming the variable to set; nothing written, no LM call attempted."""
    for key in ("OPENAI_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    path = _memory_config(write_config, lm="openai/gpt-4o-mini")
    with pytest.raises(LMError, match="OPENAI_API_KEY") as info:
        run_experiment(load_config(path), progress=False, print_summary=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_without_the_preflight_a_keyless_model_still_stops_at_the_first_chunk(write_config, tmp_path,
                                                                              monkeypatch):
    """Item 16: DSPy refuses a keyless call before connecting (LMNotConfiguredError, no retries),
    and the run stops after the first chunk instead of failing every trajectory."""
    from engram.runner import _lms

    monkeypatch.setattr(_lms, "check_usable", lambda lm, role: None)
    for key in ("OPENAI_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ENGRAM_LM_CACHE", "false")
    path = _memory_config(write_config, lm="openai/gpt-4o-mini")
    with pytest.raises(EngramError, match="cannot answer") as info:
        run_experiment(load_config(path), progress=False, print_summary=False)
    assert "OPENAI_API_KEY" in str(info.value)
    ckpt = json.loads((tmp_path / "out" / "checkpoint.json").read_text())
    assert ckpt["steps"]["memory"]["items"] == []


def test_engram_run_uses_the_chroma_server_when_set(write_config, tmp_path, monkeypatch):
    """Item 10: ENGRAM_CHROMA_URL sends the memories to the server, not a local directory."""
    import engram.config
    from engram.store import MemoryStore
    from tests.runner import memlm
    from tests.store.conftest import start_server

    memlm.register()
    server = start_server(tmp_path / "chroma-server")
    try:
        monkeypatch.setenv("ENGRAM_CHROMA_URL", server.url)
        engram.config.reset()
        path = _memory_config(write_config, lm=f"offline/{memlm.NAME}", limit=4)
        result = run_experiment(load_config(path), progress=False, print_summary=False)
        assert result.summary["steps"] == {"memory": "done"}
        assert _live_memories(MemoryStore.http(server.url)) == 4
        assert not (tmp_path / "out" / "chroma").exists()
    finally:
        server.stop()


def test_two_configs_with_one_name_do_not_clobber_each_other(write_config, tmp_path):
    """Item 17: the second config is refused, naming the first; --force sets the first aside."""
    from engram.runner._checkpoint import CheckpointError
    from tests.runner import memlm

    memlm.register()
    first = _memory_config(write_config, lm=f"offline/{memlm.NAME}", limit=2, name="a.yaml")
    run_experiment(load_config(first), progress=False, print_summary=False)
    second = _memory_config(write_config, lm=f"offline/{memlm.NAME}", limit=2, name="b.yaml", chunk_size=1)
    with pytest.raises(CheckpointError, match=f"another config, {first.resolve()}") as info:
        run_experiment(load_config(second), progress=False, print_summary=False)
    assert "--force" in str(info.value)
    result = run_experiment(load_config(second), progress=False, print_summary=False, force=True)
    assert result.summary["steps"] == {"memory": "done"}
    assert list((tmp_path / "out").glob("checkpoint.json.stale-*"))   # set aside, not deleted


def test_a_checkpoint_in_an_old_format_is_refused_with_the_fix(write_config, tmp_path):
    from engram.runner._checkpoint import CheckpointError

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "checkpoint.json").write_text(json.dumps({"version": 1, "steps": {}}))
    with pytest.raises(CheckpointError, match="--fresh"):
        run_experiment(load_config(write_config()), progress=False, print_summary=False)


def test_failed_optimizer_rounds_fail_the_step_and_nothing_is_promoted(write_config, tmp_path):
    """Item 16: a reflection LM that always fails used to keep the seed and promote v1; now the
    round is retried up to the limit, the step fails, and no prompt version is registered."""
    from engram.testing import faulty_lm, register_offline_lm, simulated_lm

    register_offline_lm("runner-broken-reflection",
                        lambda **kw: faulty_lm(simulated_lm(**kw), rate=1.0, kinds=("exception",),
                                               name="offline/runner-broken-reflection"))
    path = write_config(budget="{max_consecutive_failures: 2}")
    path.write_text(path.read_text().replace(
        "lms:\n  task: offline/support", "lms:\n  task: offline/support\n  reflection: offline/runner-broken-reflection\n"
        "  judge: offline/support"))
    with pytest.raises(EngramError, match=r"failed 2 times in a row"):
        run_experiment(load_config(path), progress=False, print_summary=False)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["steps"] == {"prompt": "failed"} and "prompt" in summary["failures"]
    from engram.tracking import PromptRegistry

    assert "support" not in PromptRegistry().list()


def test_a_failed_trajectory_holds_back_its_namespace_across_chunks(write_config, tmp_path, flaky, monkeypatch):
    """Issue 11 item 2 through the runner: a later chunk never applies a namespace whose earlier
    trajectory failed; the re-run applies both, oldest first, and nothing is lost."""
    from engram.modules import _batch as batch

    path = _memory_config(write_config, budget="{max_consecutive_failures: 100}")
    flaky["rate"] = 0.5
    with pytest.raises(EngramError):
        run_experiment(load_config(path), progress=False, print_summary=False)
    ckpt = json.loads((tmp_path / "out" / "checkpoint.json").read_text())
    done = set(ckpt["steps"]["memory"]["items"])
    assert len(done) < 12
    order: list[str] = []
    original = batch.process
    monkeypatch.setattr(batch, "process", lambda m, d, **kw: (order.extend(t.id for t in d), original(m, d, **kw))[1])
    flaky["rate"] = 0.0
    run_experiment(load_config(path), progress=False, print_summary=False)
    assert not set(order) & done and len(order) == len(set(order)) == 12 - len(done)  # the rest, once each
    from engram.store import MemoryStore

    assert _live_memories(MemoryStore.persistent(tmp_path / "out" / "chroma")) == 12
