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
import math
import os
import re
import threading
import time
from pathlib import Path

from engram._files import atomic_write_text
from engram.errors import NotFoundError, TrackingError, ValidationError
from engram.prompts import Prompt
from engram.tracking._assign import in_canary
from engram.tracking._checks import check_ref
from engram.tracking._linking import CANARY_ARM_TAG, CANARY_TAG, link_to_active_trace

log = logging.getLogger("engram.tracking")

DEFAULT_TTL_SECONDS = 60.0
OUTAGE_BACKOFF_SECONDS = 5.0  # after a failed fetch, MLflow is not asked again for max(ttl, this)
_cache: dict[tuple[tuple, str], tuple[float, Prompt]] = {}
_outage: dict[tuple, float] = {}  # registry -> when a fetch last failed to reach it
_lock = threading.Lock()


def fallback_path(ref: str, fallback_dir: str | Path | None = None) -> Path:
    """Where the fallback copy of ``ref`` lives (``<home>/prompts/<ref>.json`` by default)."""
    if fallback_dir is None:
        from engram.config import get_settings

        fallback_dir = get_settings().home / "prompts"
    check_ref(ref)
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
    if path.is_dir():
        raise TrackingError(f"The prompt fallback file {path} is a directory; point it at a file made with "
                            "`engram prompts export <ref> --format json -o <file>`.")
    try:
        data = json.loads(path.read_text())
        if "prompt" in data and isinstance(data["prompt"], dict):  # an `engram prompts export` file
            data = data["prompt"]
        return Prompt.model_validate(data)
    except (OSError, ValueError) as err:
        raise TrackingError(f"The prompt fallback file {path} is unreadable ({err}); re-export it with "
                            "`engram prompts export <ref> --format json -o <file>`.") from None


class _NoRegistry(TrackingError):
    """The SQLite registry file is not there: never created, or deleted."""


def _fetch(ref: str, uri: str) -> Prompt:
    from engram.tracking._registry import PromptRegistry  # imports MLflow: only on a cache miss

    if uri.startswith("sqlite:///"):
        # A read must not create an empty registry: MLflow would make a new database where
        # the deleted one was, answer "not found", and hide the fallback file that exists.
        db = Path(uri[len("sqlite:///"):])
        if str(db) != ":memory:" and not db.exists():
            raise _NoRegistry(f"The MLflow database {db} does not exist (deleted or moved?); not creating an "
                                "empty one for a read. Restore it, or fix ENGRAM_TRACKING_URI / ENGRAM_HOME.")
    return PromptRegistry(uri).load(ref).to_prompt()


def _check_args(ref: object, ttl: object, tracking_uri: object, fallback_dir: object) -> None:
    check_ref(ref)
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not math.isfinite(ttl) or ttl < 0:
        raise ValidationError(f"ttl must be a number of seconds, 0 or more (e.g. 60), got {ttl!r}.")
    if tracking_uri is not None and (not isinstance(tracking_uri, str) or not tracking_uri.strip()):
        raise ValidationError(f"tracking_uri must be a URI such as 'http://mlflow:5000' or "
                              f"'sqlite:///mlflow.db', got {tracking_uri!r}.")
    if fallback_dir is not None and (not isinstance(fallback_dir, (str, os.PathLike))
                                     or not str(fallback_dir).strip()):
        raise ValidationError(f"fallback_dir must be a directory path, got {fallback_dir!r}.")


def load_prompt(ref: str, *, ttl: float = DEFAULT_TTL_SECONDS, tracking_uri: str | None = None,
                fallback_dir: str | Path | None = None, refresh: bool = False, canary: str | None = None,
                fraction: float = 0.0, key: str | int | None = None) -> Prompt:
    """The prompt ``ref`` (``"name@alias"``, ``"name/3"``, ``"name"``) for production use.

    Served from memory for ``ttl`` seconds; when MLflow is unreachable, the last good
    version (memory, then the fallback file) is served instead of failing, and MLflow is not
    asked again for ``max(ttl, 5)`` seconds, so an outage costs one timeout, not one per call.
    Raises :class:`NotFoundError` if the registry says the prompt, alias or version does not
    exist, and :class:`TrackingError` if MLflow is down and there is no fallback.

    Canary: with ``canary="support@candidate"``, a stable ``fraction`` of ``key`` values
    (user ids, say) is served the candidate instead; ``metadata["canary"]`` says which arm.
    Inside an active MLflow trace the served version is linked to the trace (as
    ``mlflow.genai.load_prompt`` does) and tagged with its source and canary arm.

    Example::

        prompt = load_prompt("support@production", ttl=300)
        prompt.metadata["source"]     # 'registry', 'cache', 'stale' or 'fallback'
        prompt = load_prompt("support@production", canary="support@candidate", fraction=0.1, key="user-42")
        prompt.metadata["canary"]["arm"]    # 'control' or 'candidate'
    """
    _check_args(ref, ttl, tracking_uri, fallback_dir)
    if not isinstance(refresh, bool):
        raise ValidationError("refresh must be True or False.")
    arm_tags: dict[str, str] = {}
    served_ref, canary_info = ref, None
    if canary is not None:
        check_ref(canary, "canary reference")
        if key is None:
            raise ValidationError("A canary needs key= (a user, session or request id) so each key keeps its "
                                  "version; e.g. load_prompt(ref, canary=..., fraction=0.1, key=user_id).")
        candidate = in_canary(key, fraction, salt=canary)
        served_ref = canary if candidate else ref
        arm = "candidate" if candidate else "control"
        canary_info = {"arm": arm, "control": ref, "candidate": canary, "fraction": float(fraction)}
        arm_tags = {CANARY_ARM_TAG: arm, CANARY_TAG: canary}
    elif key is not None or fraction:
        raise ValidationError("fraction= and key= only apply with canary='name@alias'; pass canary too.")
    prompt, source = _serve(served_ref, ttl, tracking_uri, fallback_dir, refresh)
    out = _tagged(prompt, source)
    if canary_info is not None:
        out.metadata["canary"] = canary_info
    link_to_active_trace(out, source, arm_tags)
    return out


def _serve(ref: str, ttl: float, tracking_uri: str | None, fallback_dir: str | Path | None,
           refresh: bool) -> tuple[Prompt, str]:
    where = _where(tracking_uri)
    key = (where, ref)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        down_since = _outage.get(where)
    if hit is not None and not refresh and now - hit[0] < ttl:
        return hit[1], "cache"
    uri = _tracking_uri(tracking_uri)
    path = fallback_path(ref, fallback_dir)
    if down_since is not None and now - down_since < max(ttl, OUTAGE_BACKOFF_SECONDS):
        # MLflow failed moments ago: serve what we have now instead of waiting for another timeout.
        return _last_good(ref, key, hit, path, TrackingError(
            f"MLflow at {uri} was unreachable {now - down_since:.1f} s ago (not retried for "
            f"{max(ttl, OUTAGE_BACKOFF_SECONDS):g} s)."))
    try:
        prompt = _fetch(ref, uri)
    except NotFoundError:
        raise
    except _NoRegistry as err:
        if hit is None and not path.exists():  # nothing was ever registered here: not an outage
            raise NotFoundError(f"No prompt '{ref}': {err}") from None
        return _last_good(ref, key, hit, path, err)
    except TrackingError as err:
        with _lock:
            _outage[where] = time.monotonic()  # stamped after the failed call, timeout included
        return _last_good(ref, key, hit, path, err)
    _write_fallback(path, prompt)
    with _lock:
        _outage.pop(where, None)
        _cache[key] = (time.monotonic(), prompt)  # stamped after the fetch: a slow answer gets a full TTL
    return prompt, "registry"


def _last_good(ref: str, key: tuple, hit: tuple[float, Prompt] | None, path: Path,
               err: TrackingError) -> tuple[Prompt, str]:
    if hit is not None:
        # Serve the last good version and wait a full TTL before asking MLflow again,
        # so an outage does not add a timeout to every request.
        log.warning("MLflow unreachable (%s); serving the cached '%s' (version %s)", err, ref, hit[1].version)
        with _lock:
            _cache[key] = (time.monotonic(), hit[1])
        return hit[1], "stale"
    if path.is_dir():
        raise ValidationError(f"The fallback path {path} is a directory; it must be a prompt export file "
                              f"(`engram prompts export {ref} --format json -o {path}`).")
    if not path.exists():
        raise TrackingError(f"{err} No fallback copy of '{ref}' exists at {path}: load it once while "
                            "MLflow is reachable, or ship one made with `engram prompts export "
                            f"{ref} --format json -o {path}`.") from None
    prompt = read_fallback(path)
    log.warning("MLflow unreachable (%s); serving '%s' version %s from the fallback file %s",
                err, ref, prompt.version, path)
    with _lock:
        _cache[key] = (time.monotonic(), prompt)
    return prompt, "fallback"


def _tagged(prompt: Prompt, source: str) -> Prompt:
    # A copy, so a caller editing the prompt does not change what others are served.
    return prompt.model_copy(update={"metadata": {**prompt.metadata, "source": source}})


def clear_cache() -> None:
    """Forget every cached prompt and every remembered outage (the next call asks the registry)."""
    with _lock:
        _cache.clear()
        _outage.clear()
