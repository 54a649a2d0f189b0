"""run_experiment end to end with the offline simulated world: results, MLflow, resume, budget."""

from __future__ import annotations

import json

import pytest

from engram.errors import BudgetExceededError, TrackingError
from engram.runner import load_config, run_experiment


def test_run_optimizes_registers_exports_and_reports(write_config, tmp_path):
    cfg = load_config(write_config(rounds=2))
    result = run_experiment(cfg, progress=False, print_summary=False)
    s = result.summary
    assert s["steps"] == {"prompt": "done", "registry": "done", "export": "done"}
    assert s["score_after"] > s["score_before"] and s["accepted"]
    assert s["versions"] == "support v1 -> v2 (@production = v2)"
    assert s["calls"] > 0 and s["tokens"] > 0 and s["calls"] == s["calls_this_attempt"]

    # The registry holds the seed as v1 and the optimized prompt as v2, with the alias on v2.
    from engram.tracking._registry import PromptRegistry

    registry = PromptRegistry()
    production = registry.load("support@production")
    assert production.version == 2
    assert registry.load("support/1").template == cfg.prompt.prompt.template
    exported = json.loads((result.run_dir / "export" / "support.json").read_text())
    assert exported["template"] == production.template != cfg.prompt.prompt.template

    # Results table, Markdown, plots.
    table = result.table.set_index("step")
    assert table.loc["prompt", "calls"] == s["calls"]
    assert (result.run_dir / "results.md").read_text().startswith("| step")
    assert {p.name for p in result.plots} == {"score_by_round.png", "before_after.png", "cost.png"}

    # One MLflow run with the metrics and artifacts.
    import mlflow

    from engram import get_settings

    client = mlflow.MlflowClient(cfg.tracking.uri or get_settings().resolved_tracking_uri)
    run = client.get_run(result.run_id)
    assert run.data.metrics["score_after"] == pytest.approx(s["score_after"])
    assert run.data.metrics["calls"] == s["calls"]
    names = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"results.csv", "results.md", "pareto.png"} - names == {"pareto.png"}


def test_rerun_resumes_without_repeating_work(write_config):
    cfg = load_config(write_config())
    first = run_experiment(cfg, progress=False, print_summary=False)
    again = run_experiment(load_config(write_config()), progress=False, print_summary=False)
    assert set(again.summary["resumed"]) == {"prompt", "registry", "export"}
    assert again.summary["calls_this_attempt"] == 0
    assert again.run_id == first.run_id
    assert again.summary["versions"] == first.summary["versions"]  # no v3 registered


def test_changed_config_starts_over(write_config):
    run_experiment(load_config(write_config()), progress=False, print_summary=False)
    changed = run_experiment(load_config(write_config(rounds=2)), progress=False, print_summary=False)
    assert changed.summary["resumed"] == []
    assert changed.summary["calls_this_attempt"] > 0
    # v2 already holds the same optimized template, so nothing new is registered.
    assert changed.summary["versions"].startswith("support v1 -> v2")


def test_budget_stops_the_run_and_a_bigger_budget_continues_it(write_config):
    path = write_config(rounds=2, budget="{max_calls: 5}")
    with pytest.raises(BudgetExceededError, match="budget.max_calls=5"):
        run_experiment(load_config(path), progress=False, print_summary=False)
    ckpt = json.loads((path.parent / "out" / "checkpoint.json").read_text())
    assert ckpt["steps"]["prompt"]["items"] == ["round-1"]  # the finished round was kept
    assert (path.parent / "out" / "results.csv").exists()
    path = write_config(rounds=2, budget="{max_calls: 10000}")
    result = run_experiment(load_config(path), progress=False, print_summary=False)
    assert result.summary["steps"]["prompt"] == "done"
    rounds = result.table.set_index("step").loc["prompt", "details"]
    assert "rounds=2" in rounds


def test_unreachable_tracking_server_fails_fast_and_writes_nothing(write_config, tmp_path):
    path = write_config(extra="")
    text = path.read_text().replace("tracking: {experiment: runner-tests}",
                                    "tracking:\n  experiment: runner-tests\n  uri: http://127.0.0.1:9\n"
                                    "  timeout_seconds: 2")
    path.write_text(text)
    with pytest.raises(TrackingError) as info:
        run_experiment(load_config(path), progress=False, print_summary=False)
    line = text.splitlines().index("  uri: http://127.0.0.1:9") + 1
    assert f"tracking.uri (line {line})" in str(info.value) and "unreachable" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_missing_lm_names_the_key(write_config):
    path = write_config()
    path.write_text(path.read_text().replace("  task: offline/support\n", "  judge: offline/support\n"))
    cfg = load_config(path)
    cfg.lms.judge = None
    with pytest.raises(Exception, match=r"lms\.task.*ENGRAM_LM"):
        run_experiment(cfg, progress=False, print_summary=False)


def test_same_config_follows_engram_lm_to_an_http_model(write_config, monkeypatch):
    """ENGRAM_LM switches a shipped-style config (${ENGRAM_LM:-offline/support}) to a model served
    over HTTP through LiteLLM: here the OpenAI-compatible offline server stands in for a provider."""
    from engram.testing._server import OfflineServer

    path = write_config()
    path.write_text(path.read_text().replace("task: offline/support", "task: ${ENGRAM_LM:-offline/support}"))
    with OfflineServer() as server:
        monkeypatch.setenv("ENGRAM_LM", "openai/offline-support")
        monkeypatch.setenv("OPENAI_API_BASE", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "offline")
        monkeypatch.setenv("ENGRAM_LM_CACHE", "false")
        cfg = load_config(path)
        assert cfg.lms.resolved("judge") == "openai/offline-support"
        result = run_experiment(cfg, progress=False, print_summary=False)
    assert result.summary["lms"]["task"] == "openai/offline-support" and not result.summary["stand_in"]
    assert result.summary["calls"] > 0 and result.summary["steps"]["prompt"] == "done"
    from engram.runner._report import summary_rows

    rows = dict(summary_rows(result.summary))
    assert rows["cost"].startswith("unknown")
    assert "scores mean" not in rows  # a served model's scores are not labeled as the stand-in world's


def test_stand_in_scores_are_labeled_as_a_check_that_the_steps_ran_not_quality():
    from engram.runner._report import SIMULATED_SCORES, summary_rows

    summary = {"experiment": "x", "lms": {"task": "offline/support", "judge": "offline/support"},
               "stand_in": True, "score_before": 0.0, "score_after": 1.0, "accepted": True}
    rows = summary_rows(summary)
    labels = [label for label, _ in rows]
    assert dict(rows)["scores mean"] == SIMULATED_SCORES and "not optimization quality" in SIMULATED_SCORES
    assert labels.index("scores mean") == labels.index("prompt accepted") + 1


def test_a_gated_run_with_nothing_held_out_still_optimizes(tmp_path):
    """One user: the split holds nothing out, and the gate must not be handed an empty held-out set."""
    from engram.testing._world import World
    from tests.runner.conftest import SEED, config_text

    world = World(seed=0)
    data = tmp_path / "one_user.jsonl"
    world.simulate(SEED, world.users(1), turns=2, threads=6).save(data)
    (tmp_path / "exp.yaml").write_text(config_text(data, tmp_path / "out"))
    result = run_experiment(load_config(tmp_path / "exp.yaml"), progress=False, print_summary=False)
    assert result.summary["steps"]["prompt"] == "done"
