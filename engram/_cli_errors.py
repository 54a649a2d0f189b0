"""File errors as one line for the ``engram`` commands: ``error: PATH: reason``, never a traceback.

A command that reads or writes a file the user named (a directory given for a file, a
directory that does not exist, a binary file, broken YAML) fails in the standard library or
in PyYAML, not with an :class:`~engram.errors.EngramError`; :func:`file_error` says what
went wrong in one line, and the commands' error wrappers print it::

    file_error(IsADirectoryError(21, "Is a directory", "data.jsonl"))
    # 'data.jsonl: Is a directory'

Light at import (the standard library only): PyYAML is recognised only if already loaded.
:func:`quiet_library_logs` keeps stderr for that line and for warnings.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path


def quiet_library_logs() -> None:
    """MLflow and alembic log INFO lines to stderr on a first run ("Creating initial MLflow
    database tables..."); a command shows their warnings and errors only."""
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is imported
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)

# engram._files writes PATH through a temporary sibling, ``.NAME.<random>.tmp``, then renames it.
_TEMP_SIBLING = re.compile(r"^\.(?P<name>.+)\.[^.]+\.tmp$")

# Caught by the commands' wrappers; YAML errors are recognised by file_error (PyYAML loads late).
FILE_ERRORS: tuple[type[BaseException], ...] = (OSError, UnicodeDecodeError)


def _is_yaml_error(err: BaseException) -> bool:
    yaml = sys.modules.get("yaml")
    return yaml is not None and isinstance(err, yaml.YAMLError)


def is_file_error(err: BaseException) -> bool:
    """Whether ``err`` is a file error :func:`file_error` describes."""
    return isinstance(err, FILE_ERRORS) or _is_yaml_error(err)


def _unless_temporary(filename: object) -> object:
    """The file the user named instead of the temporary sibling it was being written through."""
    if not isinstance(filename, (str, Path)):
        return filename
    match = _TEMP_SIBLING.match(Path(filename).name)
    return Path(filename).with_name(match["name"]) if match else filename


def error_line(err: BaseException) -> str | None:
    """What a command prints after ``error:`` for an engram error or a file error; None for
    anything else (a bug, whose traceback is what to report)."""
    from engram.errors import EngramError

    return str(err) if isinstance(err, EngramError) else file_error(err)


def file_error(err: BaseException, path: str | Path | None = None) -> str | None:
    """One line for a file error (``path`` names the file when the error does not), else None."""
    if isinstance(err, OSError):
        where = _unless_temporary(err.filename) if err.filename is not None else path
        reason = err.strerror or str(err) or type(err).__name__
        return f"{where}: {reason}" if where is not None else reason
    where = str(path) if path is not None else "the file"
    if isinstance(err, UnicodeDecodeError):
        return f"{where}: not UTF-8 text (byte {err.start}: {err.reason}); pass a text file"
    if _is_yaml_error(err):
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or (str(err).splitlines() or ["invalid"])[0]
        return f"{where}{line}: invalid YAML ({problem}); fix the file"
    return None
