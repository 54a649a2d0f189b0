"""Fixtures: a private SQLite tracking store per test, and an `mlflow server` for the session.

MLflow's schema migrations take seconds, so one empty database is built per session and
each test gets its own copy of it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import engram  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before mlflow is imported)


@pytest.fixture(scope="session")
def _empty_db(tmp_path_factory) -> Path:
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()  # runs the migrations
    return path


@pytest.fixture
def tracking_uri(tmp_path, _empty_db, monkeypatch) -> str:
    """A fresh SQLite store for this test, also set as engram's tracking URI."""
    path = tmp_path / "mlflow.db"
    shutil.copy(_empty_db, path)
    uri = f"sqlite:///{path}"
    monkeypatch.setenv("ENGRAM_TRACKING_URI", uri)
    from engram.tracking import loader

    loader.clear_cache()
    yield uri
    loader.clear_cache()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory, _empty_db):
    """``mlflow server`` on a free local port with its own SQLite store; yields its URL."""
    root = tmp_path_factory.mktemp("mlflow-server")
    db = root / "mlflow.db"
    shutil.copy(_empty_db, db)
    port = _free_port()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "MLFLOW_TRACKING_URI": ""}
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(
        [str(mlflow_bin), "server", "--backend-store-uri", f"sqlite:///{db}", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--artifacts-destination", str(root / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not answer /health within 120 s")
            time.sleep(0.5)
        yield url
    finally:
        # The server runs in its own session with worker processes: stop the whole group.
        try:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()
