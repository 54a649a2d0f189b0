"""The MLflow connection every tracking module shares: URI, client, timeouts, error translation.

MLflow is imported here lazily (inside functions), so importing this module costs nothing::

    with mlflow_calls("http://mlflow:5000"):        # short HTTP timeout, no retries
        client = mlflow_client("http://mlflow:5000")
        client.search_prompts()
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engram.errors import NotFoundError, TrackingError

# MLflow retries an unreachable server for minutes by default (7 retries, exponential
# backoff, 120 s timeout). Inside engram calls we want a clear error within seconds, so
# these apply unless the user set the variables themselves.
HTTP_TIMEOUT_SECONDS = 5
HTTP_MAX_RETRIES = 0
_HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": str(HTTP_TIMEOUT_SECONDS),
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(HTTP_MAX_RETRIES),
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
}
_env_lock = threading.RLock()
_env_depth = 0
_env_saved: dict[str, str | None] = {}


def resolve_uri(tracking_uri: str | None = None, *, create_dir: bool = True) -> str:
    """The given URI, else ``engram.get_settings().resolved_tracking_uri`` (SQLite under home).

    For a SQLite URI the parent directory is created (unless ``create_dir`` is false), since
    MLflow will not create it.
    """
    from engram.config import get_settings

    uri = tracking_uri or get_settings().resolved_tracking_uri
    db = sqlite_file(uri)
    if create_dir and db is not None:
        os.makedirs(os.path.dirname(os.path.abspath(db)) or ".", exist_ok=True)
    return uri


def sqlite_file(uri: str) -> str | None:
    """The database file of a ``sqlite:///`` URI; None for another URI or an in-memory database."""
    path = uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else ""
    return path if path and path != ":memory:" else None


def is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


@contextmanager
def http_limits() -> Iterator[None]:
    """Short HTTP timeout and no retries for MLflow calls made inside the block (re-entrant)."""
    global _env_depth
    with _env_lock:
        if _env_depth == 0:
            for key, value in _HTTP_ENV.items():
                _env_saved[key] = os.environ.get(key)
                if _env_saved[key] is None:
                    os.environ[key] = value
        _env_depth += 1
    try:
        yield
    finally:
        with _env_lock:
            _env_depth -= 1
            if _env_depth == 0:
                for key, saved in _env_saved.items():
                    if saved is None:
                        os.environ.pop(key, None)
                _env_saved.clear()


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def mlflow_client(tracking_uri: str | None = None):
    """An ``mlflow.MlflowClient`` for the URI (tracking and registry alike), reused per URI."""
    uri = resolve_uri(tracking_uri)
    with _clients_lock:
        client = _clients.get(uri)
        if client is None:
            # engram/__init__ (always imported before this module) has set
            # LITELLM_LOCAL_MODEL_COST_MAP, so MLflow's litellm import stays offline.
            from mlflow import MlflowClient

            client = _clients[uri] = MlflowClient(tracking_uri=uri, registry_uri=uri)
        return client


def _is_connection_problem(err: BaseException) -> bool:
    text = str(err)
    markers = ("Max retries exceeded", "Connection refused", "Failed to establish", "timed out",
               "Read timed out", "ConnectionError", "Name or service not known", "failed with error code 5",
               "unable to open database file")
    return any(m in text for m in markers)


def _is_not_found(err: BaseException) -> bool:
    code = getattr(err, "error_code", "")
    return code in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"} or "not found" in str(err).lower()


def translate(err: BaseException, uri: str, what: str) -> Exception:
    """An engram error for an MLflow failure: NotFoundError, or TrackingError with what to do."""
    if isinstance(err, (NotFoundError, TrackingError)):
        return err
    if _is_connection_problem(err):
        hint = ("check that the server is running (`mlflow server ...`) and ENGRAM_TRACKING_URI is right"
                if is_remote(uri) else "check that the path exists and is writable")
        return TrackingError(f"Cannot reach the MLflow tracking store at {uri} while {what}; {hint}.")
    if _is_not_found(err):
        return NotFoundError(f"{str(err).splitlines()[0]} (at {uri}).")
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return TrackingError(f"MLflow failed while {what} at {uri}: {first}")


@contextmanager
def mlflow_errors(uri: str, what: str) -> Iterator[None]:
    """Run MLflow calls with :func:`http_limits`, turning their failures into engram errors."""
    with http_limits():
        try:
            yield
        except (NotFoundError, TrackingError):
            raise
        except Exception as err:  # MLflow raises MlflowException, requests and sqlalchemy errors
            if type(err).__module__.startswith(("engram",)):
                raise
            raise translate(err, uri, what) from err
