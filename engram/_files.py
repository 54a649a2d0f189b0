"""Atomic file writes: readers see the old content or the new, never a torn file.

Each write goes to a unique temporary file in the target's directory, is flushed to disk,
and is renamed over the target (``os.replace`` is atomic on POSIX and Windows). A failure
removes the temporary file and leaves the target as it was::

    from engram._files import atomic_write_json
    atomic_write_json(run_dir / "summary.json", {"memories": 40})
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write to; renamed over ``path`` when the block succeeds.

    For writers that want a file name (``DataFrame.to_parquet``)::

        with atomic_path("data.parquet") as tmp:
            df.to_parquet(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:  # the rename must not land before the data does
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | Path, data: Any, *, indent: int | None = 1, sort_keys: bool = True) -> None:
    """Write ``data`` as JSON to ``path`` atomically (values JSON does not know become strings)."""
    text = json.dumps(data, indent=indent, sort_keys=sort_keys, default=str, ensure_ascii=False)
    atomic_write_text(path, text + "\n")
