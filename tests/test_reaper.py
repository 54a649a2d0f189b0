"""The watchdog of tests/_reaper.py: a killed test process leaves no server behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

from tests.conftest import REPO

# Stands in for a pytest process: starts the watchdog, then a long-lived "server", prints its pid.
PARENT = """
import subprocess, sys, time
from tests._reaper import watch
watch()
server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
print(server.pid, flush=True)
time.sleep(300)
"""


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.2)
    return False


def test_a_sigkilled_parent_leaves_no_child_process_behind():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], cwd=REPO, stdout=subprocess.PIPE, text=True)
    server_pid = int(parent.stdout.readline())
    try:
        time.sleep(1.5)  # the watchdog notes descendants once a second
        assert psutil.pid_exists(server_pid)
        os.kill(parent.pid, signal.SIGKILL)  # no teardown runs: only the watchdog can stop the server
        parent.wait()
        assert _gone_within(server_pid, 15), "the orphaned server is still running"
    finally:
        if psutil.pid_exists(server_pid):
            psutil.Process(server_pid).kill()
