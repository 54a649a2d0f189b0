"""Fixtures: a private SQLite tracking store per test, and an `mlflow server` for the session.

MLflow's schema migrations take seconds, so one empty database is built per session
(``_empty_db``, in tests/conftest.py) and each test gets its own copy of it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import engram  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before mlflow is imported)


@pytest.fixture
def tracking_uri(tmp_path, _empty_db, monkeypatch) -> str:
    """A fresh SQLite store for this test, also set as engram's tracking URI."""
    path = tmp_path / "mlflow.db"
    shutil.copy(_empty_db, path)
    uri = f"sqlite:///{path}"
    monkeypatch.setenv("ENGRAM_TRACKING_URI", uri)
    from engram.tracking import _loader as loader

    loader.clear_cache()
    yield uri
    loader.clear_cache()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_mlflow_server(root: Path, empty_db: Path):
    """``mlflow server`` on a free local port with its own SQLite store; yields its URL, then stops it."""
    root.mkdir(parents=True, exist_ok=True)
    db = root / "mlflow.db"
    shutil.copy(empty_db, db)
    port = _free_port()
    # No MLflow job runner: engram never submits server jobs, and the runner's eight huey
    # consumers each import MLflow, which costs the 2-core CI machine tens of CPU seconds.
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(
        [str(mlflow_bin), "server", "--backend-store-uri", f"sqlite:///{db}", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--artifacts-destination", str(root / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
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
                raise RuntimeError("mlflow server did not answer /health within 180 s")
            time.sleep(0.5)
        yield url
    finally:
        # The server runs in its own process group (with its worker): stop that group only.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
        log.close()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory, _empty_db):
    """A tracking server shared by the server tests; yields its URL."""
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-server"), _empty_db) as url:
        yield url


@pytest.fixture
def start_mlflow_server(_empty_db):
    """``with start_mlflow_server(dir) as url:`` a private server this test can stop (outages)."""
    return lambda root: running_mlflow_server(root, _empty_db)
