"""Sweeps: 2 worker processes share one Optuna study (journal file, and PostgreSQL), trials are
nested MLflow runs, the Pareto front is reported; pruning on partial evaluations."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from engram.runner import load_config, run_sweep

SWEEP = """\
sweep:
  trials: 3
  eval_steps: 2
  search_space:
    prompt.optimizer.kind: {choices: [gradient, metaprompt, prompt_memory]}
    prompt.optimizer.rounds: {low: 1, high: 2}
"""


def _config(write_config):
    path = write_config(sweep=SWEEP)
    path.write_text(path.read_text().replace("  split: {val_fraction", "  limit: 16\n  split: {val_fraction"))
    return path


def _study(result):
    import optuna

    from engram.runner._storage import open_storage

    return optuna.load_study(study_name=result.study_name, storage=open_storage(result.storage))


def _check_shared_sweep(result, cfg):
    import mlflow
    import optuna

    study = _study(result)
    finished = [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE,
                                                       optuna.trial.TrialState.PRUNED)]
    assert 3 <= len(finished) <= 4  # both workers stop at the shared total (one may overrun by one)
    workers = {k: v for k, v in study.user_attrs.items() if k.startswith("worker-")}
    assert set(workers) == {"worker-0", "worker-1"}
    assert len({w["pid"] for w in workers.values()}) == 2 and os.getpid() not in {w["pid"] for w in workers.values()}
    assert {t.user_attrs["worker_pid"] for t in finished} <= {w["pid"] for w in workers.values()}
    assert len(result.pareto) >= 1 and result.plot.exists()
    assert set(result.pareto.columns) >= {"trial", "score", "cost", "prompt.optimizer.kind"}
    complete = [t for t in finished if t.state == optuna.trial.TrialState.COMPLETE]
    best = max(t.values[0] for t in complete)
    assert result.pareto["score"].max() == pytest.approx(best, abs=1e-4)
    # every trial is an MLflow run nested under the sweep's run
    from engram import get_settings

    client = mlflow.MlflowClient(get_settings().resolved_tracking_uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment)
    children = client.search_runs([experiment.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert len(children) == len(study.trials)
    assert all("prompt.optimizer.kind" in run.data.params for run in children)


def test_two_workers_share_a_journal_study(write_config, tmp_path):
    path = _config(write_config)
    cfg = load_config(path)
    result = run_sweep(path, workers=2, progress=False, print_front=False)
    assert result.storage == f"journal:{(tmp_path / 'out' / 'study.journal').resolve()}"
    _check_shared_sweep(result, cfg)
    # A re-run continues the same study: the trial budget is already spent, nothing new runs.
    before = len(_study(result).trials)
    again = run_sweep(path, workers=1, progress=False, print_front=False)
    assert len(_study(again).trials) == before


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL cluster on 127.0.0.1, run as the `postgres` user."""
    initdb, pg_ctl, runuser = shutil.which("initdb"), shutil.which("pg_ctl"), shutil.which("runuser")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    if os.geteuid() == 0 and not runuser:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
    pytest.importorskip("psycopg2")
    as_pg = [runuser, "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="engram-pg-", dir="/tmp"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = _free_port()
    subprocess.run([*as_pg, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True)
    subprocess.run([*as_pg, pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-o",
                    f"-p {port} -h 127.0.0.1 -k {base}", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_pg, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def test_two_workers_share_a_postgresql_study(write_config, postgres_url):
    path = _config(write_config)
    result = run_sweep(path, workers=2, storage=postgres_url, progress=False, print_front=False)
    assert result.storage == postgres_url
    _check_shared_sweep(result, load_config(path))


def test_pruning_on_partial_evaluations():
    import optuna

    from engram.runner._pruning import COST_ATTR, PARTIAL_ATTR, dominated_at_step

    study = optuna.create_study(directions=["maximize", "minimize"])
    for partial, cost in (([0.9, 0.8], 100.0), ([0.5, 0.6], 50.0)):
        study.add_trial(optuna.trial.create_trial(
            values=[partial[-1], cost], user_attrs={PARTIAL_ATTR: partial, COST_ATTR: cost},
            distributions={}, params={}))
    assert dominated_at_step(study, step=0, score=0.4, cost=120.0)       # worse and dearer
    assert not dominated_at_step(study, step=0, score=0.4, cost=10.0)    # worse but cheapest: keep
    assert not dominated_at_step(study, step=0, score=0.95, cost=500.0)  # best so far: keep
    single = optuna.create_study(directions=["maximize", "minimize"])
    single.add_trial(optuna.trial.create_trial(values=[0.9, 1.0], user_attrs={PARTIAL_ATTR: [0.9], COST_ATTR: 1.0},
                                               distributions={}, params={}))
    assert not dominated_at_step(single, step=0, score=0.1, cost=9.0)    # too few finished trials


def test_sweep_needs_a_search_space(write_config):
    path = write_config()
    with pytest.raises(Exception, match="no 'sweep:' section"):
        run_sweep(path, progress=False)


def test_a_worker_given_a_config_without_a_sweep_says_so(write_config, tmp_path, capsys):
    # `python -m engram.runner._sweep CONFIG` re-reads the file run_sweep checked; one without
    # (or no longer with) a sweep: section is an error line and exit status 1, not a traceback.
    from engram.runner._sweep import main

    path = write_config()
    with pytest.raises(SystemExit) as exit_info:
        main([str(path), "--storage", str(tmp_path / "journal.log"), "--total", "1"])
    assert exit_info.value.code == 1
    assert "no 'sweep:' section" in capsys.readouterr().err
