"""Real servers for the serve tests: ``engram serve`` in a subprocess on a free loopback port.

Each server gets its own ``ENGRAM_HOME`` (Chroma, MLflow's SQLite, keys, jobs) and the
offline stand-in LM; it is stopped (SIGTERM, then SIGKILL) when the test is done.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = Path(__file__).with_name("launch.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    home: Path
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0, *options: str) -> Server:
        """Start it; ``options`` are more ``engram serve`` options (``"--workers", "2"``)."""
        out = open(self.log, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([sys.executable, str(LAUNCH), "serve", "--port", str(self.port),
                                      "--log-level", "warning", *options], cwd=ROOT, env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def key(self, tenant: str, scopes: str = "read,write,optimize") -> str:
        from engram.serve import KeyStore

        created = KeyStore(self.home / "serve-keys.db").create(tenant, scopes)
        return created.key

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def make_server(tmp_path: Path, name: str = "server", **env: str) -> Server:
    home = tmp_path / name
    home.mkdir(parents=True, exist_ok=True)
    full = {**os.environ, "PYTHONPATH": str(ROOT), "ENGRAM_HOME": str(home), "ENGRAM_LM": "offline/support",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "ENGRAM_SERVE_JOB_LEASE_SECONDS": "3", "ENGRAM_SERVE_RATE_PER_SECOND": "1000",
            "ENGRAM_SERVE_RATE_BURST": "1000"}
    for var in ("ENGRAM_CHROMA_URL", "ENGRAM_TRACKING_URI", "ENGRAM_AUTOLOG"):
        full.pop(var, None)
    full.update(env)
    return Server(home=home, port=free_port(), env=full, log=home / "server.log")


def in_process_app(home: Path, *, mcp: bool = False, **settings_fields):
    """The HTTP app over an in-memory store, without a job runner (and without MCP unless ``mcp``),
    for FastAPI's TestClient: ``(app, service)``; the service's key table makes the keys.
    ``settings_fields`` are more ServeSettings (``allowed_hosts=[...]``)."""
    from engram.serve import FeedbackDatasets, JobStore, KeyStore, ServeSettings, Service, create_app
    from engram.store import MemoryStore

    settings = ServeSettings(run_jobs=False, **settings_fields)
    service = Service(MemoryStore.in_memory(), KeyStore(home / "keys.db"), JobStore(f"sqlite:///{home}/jobs.db"),
                      FeedbackDatasets(home), settings, home)
    return create_app(settings, service=service, mcp=mcp), service


@pytest.fixture
def server_factory(tmp_path):
    started: list[Server] = []

    def factory(name: str = "server", **env: str) -> Server:
        server = make_server(tmp_path, name, **env)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory):
    """One server for the tests that need no special settings (each module uses its own tenants)."""
    server = make_server(tmp_path_factory.mktemp("serve")).start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL cluster on 127.0.0.1, run as the `postgres` user (skipped without one)."""
    import shutil
    import tempfile

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
    port = free_port()
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
