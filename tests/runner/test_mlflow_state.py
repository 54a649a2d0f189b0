"""An engram run leaves the caller's MLflow settings as they were."""

from engram.runner import load_config, run_experiment


def test_run_restores_the_callers_tracking_uri_and_experiment(write_config, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)  # the user's default experiment keeps artifacts in ./mlruns
    user_uri = f"sqlite:///{tmp_path / 'user' / 'mlflow.db'}"
    (tmp_path / "user").mkdir()
    mlflow.set_tracking_uri(user_uri)
    try:
        result = run_experiment(load_config(write_config(rounds=1)), progress=False, print_summary=False)
        assert result.summary["run_id"]
        assert mlflow.get_tracking_uri() == user_uri
        # The user's own run goes to the user's store, in its default experiment.
        with mlflow.start_run(run_name="mine") as mine:
            mlflow.log_metric("x", 1.0)
        run = mlflow.get_run(mine.info.run_id)
        assert run.data.metrics == {"x": 1.0} and run.info.experiment_id == "0"
        # and the engram run is not in the user's store
        found = mlflow.search_runs(search_all_experiments=True, output_format="list")
        assert [r.info.run_id for r in found] == [mine.info.run_id]
    finally:
        mlflow.set_tracking_uri(None)
