"""A real ``chroma run`` server on a free 127.0.0.1 port, for tests and benchmarks.

Started in its own process over ``path``; :meth:`ChromaServer.stop` (or leaving the ``with``
block) stops it. Its output goes to ``<path>/server.log``, which a failure to start quotes::

    import tempfile
    from engram.store import MemoryStore

    with tempfile.TemporaryDirectory() as folder, ChromaServer(folder) as server:
        store = MemoryStore.http(server.url)
        store.put(("memories", "u1"), "city", "Lives in Lyon.").version   # 1
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self


class ChromaServerError(RuntimeError):
    """``chroma run`` is missing, exited, or did not answer in time."""


def chroma_command() -> str | None:
    """The ``chroma`` executable of this environment, or None when it is not installed."""
    found = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    return found if Path(found).exists() else None


class ChromaServer:
    """A ``chroma run`` process on 127.0.0.1 (see the module docstring)."""

    def __init__(self, path: str | Path, *, timeout: float = 60.0) -> None:
        chroma = chroma_command()
        if chroma is None:
            raise ChromaServerError("the `chroma` command is not installed (pip install chromadb).")
        data = Path(path)
        data.mkdir(parents=True, exist_ok=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.log_path = data / "server.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen([chroma, "run", "--path", str(data / "db"), "--host", "127.0.0.1",
                                      "--port", str(port)], stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
        self.url = f"http://127.0.0.1:{port}"
        try:
            self._wait(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float) -> None:
        import httpx

        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise ChromaServerError(f"chroma server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise ChromaServerError(f"chroma server did not start within {timeout:.0f} s")

    def stop(self) -> None:
        """Stop the server (terminate, then kill after 10 s) and close its log."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
