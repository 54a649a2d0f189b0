"""Who owns a persistent store directory, and whether it ever held data.

Two files sit beside Chroma's ``chroma.sqlite3``:

- ``engram.lock``: an exclusive ``flock`` held by the one process that has the
  directory open, with its pid, host, start time and command line inside. Chroma's SQLite and
  HNSW files are not coordinated across processes (two writers lost 92 of 300
  same-key writes here), so a second process gets a :class:`StoreInUseError` naming
  the owner. The kernel drops the lock when its process dies, so a stale file
  left by a killed process is simply taken over. Store objects of one process
  share the lock (it is counted, and released when the last one closes or is
  garbage-collected).
- ``engram-store.json``: written at the first write of each session, it says the
  directory holds data (with a count of writes). If ``chroma.sqlite3`` then goes
  missing, opening raises instead of silently starting an empty store.

Example::

    owner = DirectoryOwner.acquire(Path(".engram/chroma"))   # StoreInUseError if another process has it
    owner.check_data()                                       # StoreError if the database vanished
    owner.note_writes(3)
    owner.release()
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engram._files import atomic_write_json
from engram.errors import StoreError, StoreInUseError

LOCK_NAME = "engram.lock"
MARKER_NAME = "engram-store.json"
DATABASE_NAME = "chroma.sqlite3"
logger = logging.getLogger(__name__)

_GUARD = threading.Lock()
_HELD: dict[str, DirectoryOwner] = {}


class DirectoryOwner:
    """This process's claim on one store directory (see the module docstring)."""

    def __init__(self, directory: Path, fd: int) -> None:
        self.directory = directory
        self.fd = fd
        self.pid = os.getpid()
        self.users = 0
        self.session_writes = 0
        self._marked = False
        self._lock = threading.Lock()

    # -- ownership ------------------------------------------------------------------------------
    @classmethod
    def acquire(cls, directory: Path) -> DirectoryOwner:
        """Claim ``directory`` for this process (shared by its store objects)."""
        key = str(directory.resolve())
        with _GUARD:
            held = _HELD.get(key)
            if held is not None and held.pid == os.getpid() and held.fd >= 0:
                held.users += 1
                return held
            path = directory / LOCK_NAME
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            except OSError as err:
                raise StoreError(f"cannot create the owner lock {path}: {err}; check the directory's "
                                 f"permissions.") from None
            previous = _read_json_fd(fd)
            if not _try_lock(fd, previous):
                os.close(fd)
                raise StoreInUseError(_busy_message(directory, previous), directory=str(directory),
                                      holder=previous)
            if previous.get("pid") and previous.get("pid") != os.getpid():
                logger.info("engram: took over %s from pid %s (no longer running)", path, previous["pid"])
            info = {"pid": os.getpid(), "host": socket.gethostname(),
                    "since": datetime.now(UTC).isoformat(timespec="seconds"), "argv": _argv()}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            owner = cls(directory, fd)
            owner.users = 1
            _HELD[key] = owner
            return owner

    def release(self) -> None:
        """Drop one store object's share; the last one closes the lock file (freeing it)."""
        with _GUARD:
            self.users -= 1
            if self.users > 0 or self.fd < 0:
                return
            self._finish_marker()
            fd, self.fd = self.fd, -1
            _HELD.pop(str(self.directory.resolve()), None)
        if self.pid == os.getpid():
            os.close(fd)  # never unlink: a racing opener could then lock a second file

    # -- the data marker ----------------------------------------------------------------------
    def check_data(self) -> None:
        """Refuse to open an empty database where the marker says data was written."""
        marker = _read_json(self.directory / MARKER_NAME)
        if marker.get("writes") and not (self.directory / DATABASE_NAME).exists():
            raise StoreError(
                f"{self.directory / DATABASE_NAME} is missing, but {MARKER_NAME} there says this store "
                f"received {marker['writes']} writes (first {marker.get('first_write', '?')}, last session "
                f"{marker.get('last_session', '?')}). Opening it would start an empty store and hide the "
                f"loss. Restore {DATABASE_NAME} from a backup; to start over on purpose, delete "
                f"{self.directory / MARKER_NAME} (or the whole directory)."
            )

    def note_writes(self, count: int) -> None:
        """Record ``count`` committed writes; the first of a session updates the marker on disk."""
        with self._lock:
            self.session_writes += count
            if not self._marked:
                self._marked = True
                self._write_marker(count)

    def _finish_marker(self) -> None:
        if self._marked and self.session_writes:
            try:
                self._write_marker(self.session_writes, closing=True)
            except OSError as err:  # the marker only guards against loss; never fail a close on it
                logger.warning("engram: could not update %s: %s", self.directory / MARKER_NAME, err)

    def _write_marker(self, writes: int, closing: bool = False) -> None:
        path = self.directory / MARKER_NAME
        marker = _read_json(path)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        base = marker.get("writes_before_session", marker.get("writes", 0)) if closing else marker.get("writes", 0)
        marker.update({"format": 1, "holds_data": True, "writes": int(base) + writes,
                       "writes_before_session": int(base), "last_session": now})
        marker.setdefault("first_write", now)
        atomic_write_json(path, marker, sort_keys=False)


def _try_lock(fd: int, previous: dict[str, Any]) -> bool:
    try:
        import fcntl
    except ImportError:  # no flock (Windows): trust the pid in the file
        pid = previous.get("pid")
        return not (isinstance(pid, int) and pid != os.getpid() and _alive(pid))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _argv() -> list[str]:
    """This process's command line, as the lock file records it (the program by its name only)."""
    argv = [str(a)[:200] for a in sys.argv[:20]] or [""]
    if argv[0] in ("", "-c"):  # python -c CODE, or an embedded interpreter
        return [Path(sys.executable).name or "python", *argv]
    return [Path(argv[0]).name or argv[0], *argv[1:]]


def _command_line(holder: dict[str, Any]) -> str | None:
    """The holder's command line from its lock info (``engram serve --port 8080``), if recorded."""
    argv = holder.get("argv")
    if not isinstance(argv, list) or not argv:
        return None
    return " ".join(str(a) for a in argv)


def _busy_message(directory: Path, holder: dict[str, Any]) -> str:
    command = _command_line(holder)
    running = f" (`{command}`)" if command else ""
    who = (f"process {holder.get('pid')}{running} on host {holder.get('host')!r} since {holder.get('since')}"
           if holder.get("pid") else "another process (it is still starting)")
    return (
        f"the memory store {directory} is in use by {who}. A persistent store directory has one "
        f"writer process: Chroma's files are not coordinated across processes, and concurrent "
        f"writers lose writes. Stop that process, or share memory between processes through a "
        f"Chroma server: `chroma run --path {directory} --port 8000`, then set "
        f"ENGRAM_CHROMA_URL=http://localhost:8000 (or use MemoryStore.http(url))."
    )


def _read_json_fd(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 65536, 0)
        value = json.loads(data.decode() or "{}")
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
