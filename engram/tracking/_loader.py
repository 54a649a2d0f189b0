"""The production loader: ``load_prompt("name@production")`` with a TTL cache and a local fallback.

Production code asks for a prompt on every request; this keeps that cheap and keeps it
working when MLflow is down::

    import engram
    prompt = engram.load_prompt("support@production")      # Prompt; cached for 60 s
    system = prompt.format(company="Acme")

- Within ``ttl`` seconds a call is a dictionary lookup (no MLflow import, no I/O).
- After that the registry is asked again; every successful answer is also written to a
  fallback file (``<home>/prompts/<name>@<alias>.json``).
- If MLflow cannot be reached, the last good version is served: from memory, else from the
  fallback file (which you can also ship with your app: ``engram prompts export
  support@production --format json -o prompts/support@production.json``). The prompt's
  ``metadata["source"]`` says which: ``"registry"``, ``"cache"``, ``"stale"`` or ``"fallback"``.

This module imports only the standard library and engram's light modules; MLflow is
imported on the first cache miss.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from pathlib import Path

from engram._files import atomic_write_text
from engram.errors import NotFoundError, TrackingError
from engram.prompts import Prompt

log = logging.getLogger("engram.tracking")

DEFAULT_TTL_SECONDS = 60.0
_cache: dict[tuple[str, str], tuple[float, Prompt]] = {}
_lock = threading.Lock()


def fallback_path(ref: str, fallback_dir: str | Path | None = None) -> Path:
    """Where the fallback copy of ``ref`` lives (``<home>/prompts/<ref>.json`` by default)."""
    if fallback_dir is None:
        from engram.config import get_settings

        fallback_dir = get_settings().home / "prompts"
    safe = re.sub(r"[^A-Za-z0-9_.@\-]", "_", ref.strip().removeprefix("prompts:/").replace("/", "@v"))
    return Path(fallback_dir) / f"{safe}.json"


def _tracking_uri(tracking_uri: str | None) -> str:
    if tracking_uri:
        return tracking_uri
    from engram.config import get_settings

    return get_settings().resolved_tracking_uri


def _where(tracking_uri: str | None) -> tuple:
    """A cheap key for "which registry": building Settings costs ~50 us, a dict lookup does not."""
    if tracking_uri:
        return (tracking_uri,)
    from engram.config import settings_generation

    # configure() moves the generation; the variables are read at each call
    return (None, settings_generation(), os.environ.get("ENGRAM_TRACKING_URI"), os.environ.get("ENGRAM_HOME"))


def _write_fallback(path: Path, prompt: Prompt) -> None:
    # Write to a temporary file and rename: a crash mid-write never leaves a torn fallback.
    text = json.dumps(prompt.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    try:
        if path.exists() and path.read_text() == text:
            return  # unchanged since the last refresh: no write every TTL
        atomic_write_text(path, text)
    except OSError as err:  # a read-only disk must not break serving prompts
        log.warning("could not write the prompt fallback file %s: %s", path, err)


def read_fallback(path: str | Path) -> Prompt:
    """A Prompt from a fallback / JSON export file (TrackingError if unreadable)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        if "prompt" in data and isinstance(data["prompt"], dict):  # an `engram prompts export` file
            data = data["prompt"]
        return Prompt.model_validate(data)
    except (OSError, ValueError) as err:
        raise TrackingError(f"The prompt fallback file {path} is unreadable ({err}); re-export it with "
                            "`engram prompts export <ref> --format json -o <file>`.") from None


def _fetch(ref: str, uri: str) -> Prompt:
    from engram.tracking._registry import PromptRegistry  # imports MLflow: only on a cache miss

    return PromptRegistry(uri).load(ref).to_prompt()


def load_prompt(ref: str, *, ttl: float = DEFAULT_TTL_SECONDS, tracking_uri: str | None = None,
                fallback_dir: str | Path | None = None, refresh: bool = False) -> Prompt:
    """The prompt ``ref`` (``"name@alias"``, ``"name/3"``, ``"name"``) for production use.

    Served from memory for ``ttl`` seconds; when MLflow is unreachable, the last good
    version (memory, then the fallback file) is served instead of failing. Raises
    :class:`NotFoundError` if the registry says the prompt, alias or version does not exist,
    and :class:`TrackingError` if MLflow is down and there is no fallback.

    Example::

        prompt = load_prompt("support@production", ttl=300)
        prompt.metadata["source"]     # 'registry', 'cache', 'stale' or 'fallback'
    """
    key = (_where(tracking_uri), ref)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit is not None and not refresh and now - hit[0] < ttl:
        return _tagged(hit[1], "cache")
    uri = _tracking_uri(tracking_uri)

    path = fallback_path(ref, fallback_dir)
    try:
        prompt = _fetch(ref, uri)
    except NotFoundError:
        raise
    except TrackingError as err:
        if hit is not None:
            # Serve the last good version and wait a full TTL before asking MLflow again,
            # so an outage does not add a timeout to every request.
            log.warning("MLflow unreachable (%s); serving the cached '%s' (version %s)", err, ref, hit[1].version)
            with _lock:
                _cache[key] = (now, hit[1])
            return _tagged(hit[1], "stale")
        if not path.exists():
            raise TrackingError(f"{err} No fallback copy of '{ref}' exists at {path}: load it once while "
                                "MLflow is reachable, or ship one made with `engram prompts export "
                                f"{ref} --format json -o {path}`.") from None
        prompt = read_fallback(path)
        log.warning("MLflow unreachable (%s); serving '%s' version %s from %s", err, ref, prompt.version, path)
        with _lock:
            _cache[key] = (now, prompt)
        return _tagged(prompt, "fallback")

    _write_fallback(path, prompt)
    with _lock:
        _cache[key] = (now, prompt)
    return _tagged(prompt, "registry")


def _tagged(prompt: Prompt, source: str) -> Prompt:
    # A copy, so a caller editing the prompt does not change what others are served.
    return prompt.model_copy(update={"metadata": {**prompt.metadata, "source": source}})


def clear_cache() -> None:
    """Forget every cached prompt (the next call asks the registry)."""
    with _lock:
        _cache.clear()
