"""Where an Optuna study lives, so that several worker processes (or machines) can share it.

``resolve_storage`` turns a config value into an Optuna storage:

- ``None``: a journal file under the run's output directory (local, safe for several
  processes on one machine: JournalFileBackend uses file locks).
- ``postgresql://user@host:5432/db`` (or ``mysql://``, ``sqlite:///``): RDB storage, the
  multi-machine setup.
- ``path/to/study.journal`` or ``journal:path``: a journal file at that path.

Example::

    storage, url = resolve_storage(None, Path(".engram/runs/sweep"))
    optuna.create_study(storage=storage, ...)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engram.errors import ConfigurationError

RDB_SCHEMES = ("postgresql", "postgres", "mysql", "sqlite")


def storage_url(value: str | None, run_dir: Path) -> str:
    """The canonical storage string: an RDB URL, or ``journal:<absolute path>``."""
    if value is None:
        return f"journal:{(run_dir / 'study.journal').resolve()}"
    if value.split(":", 1)[0].split("+", 1)[0] in RDB_SCHEMES:
        return value.replace("postgres://", "postgresql://", 1)
    if value.startswith("journal:"):
        return f"journal:{Path(value.removeprefix('journal:')).resolve()}"
    if value.endswith((".journal", ".log")):
        return f"journal:{Path(value).resolve()}"
    raise ConfigurationError(
        f"sweep.storage {value!r} is neither a database URL (postgresql://..., sqlite:///...) nor a "
        f"journal file (path ending in .journal); fix sweep.storage or pass --storage")


def _with_driver(url: str) -> str:
    """``postgresql://`` with the PostgreSQL driver that is installed.

    SQLAlchemy 2.1 picks psycopg (v3) for a bare ``postgresql://``; engram's dev extra
    installs psycopg2-binary, so name the driver explicitly when only that one exists.
    """
    if not url.startswith("postgresql://"):
        return url
    try:
        import psycopg  # noqa: F401  (SQLAlchemy's default driver for postgresql://)
    except ImportError:
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            return url  # neither: SQLAlchemy's own error names the missing driver
        return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def open_storage(url: str) -> Any:
    """An Optuna storage object for :func:`storage_url`'s result (raises if unreachable)."""
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    url = _with_driver(url)
    try:
        # pool_pre_ping: a worker that waits long between trials gets a live connection.
        return RDBStorage(url, engine_kwargs={"pool_pre_ping": True}, heartbeat_interval=None)
    except Exception as err:  # noqa: BLE001  (driver import, DNS, auth, schema: all mean "cannot open"
        shown = url.split("@")[-1] if "@" in url else url  # never print a password
        raise ConfigurationError(f"cannot open the Optuna storage {shown}: {err}; check sweep.storage / "
                                 f"--storage and that the database is running") from None
