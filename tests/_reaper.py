"""Stop what a test process started, even when the test process itself is killed.

Fixtures stop their servers (engram serve, MLflow, Chroma, Jupyter kernels) in teardown, which a
SIGKILL or a CI timeout skips: the servers then live on, holding ports, memory and CPU (one MLflow
server outlived its run by 96 minutes). :func:`watch` starts a watchdog in a session of its own
that notes this process's descendants every second and, when the pipe from this process closes
(it exited or died), terminates the ones still alive (``psutil`` compares start times, so a
reused pid is never hit).

    watch()   # in pytest_configure: once per pytest process (xdist workers included)
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys

_WATCHDOG = r"""
import os, select, sys
import psutil

watched, me = psutil.Process(int(sys.argv[1])), os.getpid()
seen = {}
while True:
    try:
        for child in watched.children(recursive=True):
            if child.pid != me:
                seen[child.pid] = child
    except psutil.Error:
        pass
    if select.select([0], [], [], 1.0)[0] and not os.read(0, 4096):
        break  # the pipe closed: the watched process is gone
    if not watched.is_running():
        break  # gone, though a forked child may still hold the pipe open
alive = [p for p in seen.values() if p.is_running()]
for process in alive:
    try:
        process.terminate()
    except psutil.Error:
        pass
_, stubborn = psutil.wait_procs(alive, timeout=5)
for process in stubborn:
    try:
        process.kill()
    except psutil.Error:
        pass
"""

_watchdog: subprocess.Popen | None = None


def watch() -> subprocess.Popen:
    """Start (once) the watchdog of this process's descendants; returns it."""
    global _watchdog
    if _watchdog is None or _watchdog.poll() is not None:
        # Its own session: a signal to this process's group (a CI timeout) must not stop it first.
        # Only its stdin is kept: it closes when this process ends, however it ends.
        _watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid())],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        atexit.register(_release, _watchdog)
    return _watchdog


def _release(watchdog: subprocess.Popen) -> None:
    """On a normal exit, close the pipe (the watchdog stops what is left, then ends) and reap it."""
    assert watchdog.stdin is not None
    watchdog.stdin.close()
    try:
        watchdog.wait(timeout=15)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()
