"""A namespace's write lock shared by the processes of one machine, for stores on a Chroma server.

Chroma has no compare-and-set: a write reads a memory's version, then writes the next one. Two
``engram serve`` workers updating one memory at once could both read version 7 and both write
version 8, and one update was lost without a word (measured: two processes each adding 1 forty
times to a counter with ``mutate`` ended at 44, not 80). Threads of one process already wait
for each other on the namespace's lock; this adds an exclusive ``flock`` on a file named for
the server and the namespace, taken when a thread of this process first enters the lock and
let go when the last one leaves, so the read-check-write of every process on this machine
takes turns. A crashed process lets go of its locks with it.

Processes on *different machines* are not covered: shard their writes by namespace (README,
"Deployment notes"). Example::

    lock = HostLock(lock_file("http:127.0.0.1:8000:", ("memories", "u1")))
    with lock:        # this thread, then any other thread or process of this machine
        ...
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: threads of one process still take turns; processes do not
    fcntl = None  # type: ignore[assignment]


def lock_file(scope: str, namespace: tuple[str, ...]) -> Path | None:
    """The file whose ``flock`` stands for the namespace of the server ``scope`` (None without flock)."""
    if fcntl is None:
        return None
    uid = os.getuid() if hasattr(os, "getuid") else 0
    directory = Path(tempfile.gettempdir()) / f"engram-locks-{uid}"
    directory.mkdir(mode=0o700, exist_ok=True)
    name = hashlib.sha256("\x00".join((scope, *namespace)).encode()).hexdigest()[:32]
    return directory / f"{name}.lock"


class HostLock:
    """Re-entrant for the threads of this process (a ``threading.RLock``), exclusive between
    processes through ``flock`` on ``path`` while any thread here holds it."""

    def __init__(self, path: Path | None) -> None:
        self._rlock = threading.RLock()
        self._path = path
        self._depth = 0      # nested entries by the thread that holds the RLock
        self._fd: int | None = None

    def __enter__(self) -> HostLock:
        self._rlock.acquire()
        if self._depth == 0 and self._path is not None:
            try:
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
            except BaseException:
                self._rlock.release()
                raise
            self._fd = fd
        self._depth += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor lets go of the flock
        self._rlock.release()


__all__ = ["HostLock", "lock_file"]
