"""Settings: which LMs, which embedder, where memories and runs are stored.

Values come, in order of precedence, from :func:`configure`, from environment
variables prefixed ``ENGRAM_`` (``ENGRAM_LM``, ``ENGRAM_REFLECTION_LM``,
``ENGRAM_JUDGE_LM``, ``ENGRAM_EMBEDDER``, ``ENGRAM_HOME``, ``ENGRAM_CHROMA_URL``,
``ENGRAM_TRACKING_URI``), and from the defaults below. ``ENGRAM_AUTOLOG=1``, read once at
``import engram``, turns on :func:`engram.autolog` for the process::

    import engram
    engram.configure(lm="openai/gpt-4o-mini", home="/data/engram")
    engram.get_settings().tracking_uri   # 'sqlite:////data/engram/mlflow.db'
"""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from engram.errors import ConfigurationError

ENV_PREFIX = "ENGRAM_"


class Settings(BaseModel):
    """engram's settings. LMs may be names (``"openai/gpt-4o-mini"``) or ``dspy.LM`` objects."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, validate_assignment=True)

    lm: Any = Field(None, description="Task LM: a LiteLLM model name, 'offline/<world>', or a dspy.LM.")
    reflection_lm: Any = Field(None, description="LM for critiques and prompt edits; defaults to `lm`.")
    judge_lm: Any = Field(None, description="LM for feedback judges; defaults to `reflection_lm`.")
    embedder: str = Field(
        "all-MiniLM-L6-v2",
        description="'all-MiniLM-L6-v2' (offline, bundled), 'litellm:<model>' or 'chroma:default'.",
    )
    home: Path = Field(Path(".engram"), description="Directory for the Chroma store and MLflow's SQLite file.")
    chroma_url: str | None = Field(None, description="http://host:port of a Chroma server; embedded if unset.")
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; a SQLite file under `home` if unset.")
    lm_cache: bool = Field(True, description="Use DSPy's response cache for LMs built from names.")

    @field_validator("lm", "reflection_lm", "judge_lm")
    @classmethod
    def _lm_name_or_object(cls, value: Any) -> Any:
        # Checked here, not at first use, so a bad value is refused before it replaces a good one.
        if value is None:
            return None
        if isinstance(value, str):
            name = value.strip()
            if not name:
                raise ValueError("an LM name cannot be empty; e.g. 'openai/gpt-4o-mini'")
            if "/" not in name:
                raise ValueError(f"LM name {name!r} has no provider prefix; write it as LiteLLM does, "
                                 f"e.g. 'openai/{name}'")
            return name
        if isinstance(value, (bool, int, float, list, tuple, dict, set)):
            raise ValueError(f"an LM is a model name such as 'openai/gpt-4o-mini' or a dspy.LM, got {value!r}")
        return value  # a dspy.LM (not imported here: config stays light)

    @field_validator("embedder")
    @classmethod
    def _embedder_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the embedder cannot be empty; e.g. 'all-MiniLM-L6-v2' or 'litellm:<model>'")
        value = value.strip()
        minilm = {f"{alias}{variant}" for alias in _MINILM_ALIASES for variant in ("", ":torch", ":int8")}
        kind, _, rest = value.partition(":")
        if value.lower() in minilm or (kind in {"litellm", "chroma"} and rest.strip()):
            return value
        if kind in {"litellm", "chroma"}:
            raise ValueError(f"{kind!r} needs a name after the colon, e.g. "
                             + ("'litellm:text-embedding-3-small'" if kind == "litellm" else "'chroma:default'"))
        raise ValueError(f"unknown embedder {value!r}; use 'all-MiniLM-L6-v2' (also ':int8' or ':torch'), "
                         "'litellm:<model>' (e.g. 'litellm:text-embedding-3-small') or 'chroma:<name>' "
                         "(e.g. 'chroma:default')")

    @field_validator("home")
    @classmethod
    def _home_not_a_file(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(f"home {str(value)!r} is an existing file, not a directory; engram keeps its "
                             "Chroma store and MLflow database in this directory: give a directory path "
                             "(it is created if missing)")
        return value

    @field_validator("tracking_uri")
    @classmethod
    def _tracking_scheme_known(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return value
        scheme = _uri_scheme(value.strip())
        if scheme in _MLFLOW_SCHEMES or scheme.split("+", 1)[0] in _MLFLOW_DATABASES:
            return value
        plugins = _tracking_store_plugins()
        if scheme in plugins:
            return value
        known = sorted(_MLFLOW_SCHEMES - {""} | _MLFLOW_DATABASES | plugins)
        raise ValueError(f"MLflow has no tracking store for scheme {scheme!r} in {value!r}; use a directory "
                         f"path, or a URI with one of the schemes {', '.join(known)} (e.g. "
                         "'sqlite:////data/mlflow.db' or 'http://localhost:5000')")

    @property
    def store_path(self) -> Path:
        """Directory of the embedded (persistent) Chroma store."""
        return self.home / "chroma"

    @property
    def resolved_tracking_uri(self) -> str:
        """The MLflow tracking URI in use: the configured one, or ``sqlite:///<home>/mlflow.db``."""
        if self.tracking_uri:
            return self.tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"


# The tracking-store schemes MLflow itself serves (mlflow.tracking._tracking_service.utils):
# "" is a plain path. Plugins add theirs through the "mlflow.tracking_store" entry-point group.
_MLFLOW_SCHEMES = {"", "file", "http", "https", "databricks", "databricks-uc", "uc"}
_MLFLOW_DATABASES = {"sqlite", "postgresql", "mysql", "mssql"}  # also as dialect+driver


def _uri_scheme(uri: str) -> str:
    from urllib.parse import urlparse

    if uri in {"databricks", "databricks-uc", "uc"}:
        return uri
    scheme = urlparse(uri).scheme.lower()
    return "" if len(scheme) == 1 else scheme  # "C:\\runs" is a Windows path, as MLflow reads it


def _tracking_store_plugins() -> set[str]:
    from engram._lazy import entry_points

    return set(entry_points("mlflow.tracking_store"))


_lm_name_checks: dict[str, Callable[[str], str | None]] = {}
_MINILM_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm", "default"}
"""The MiniLM names engram.store's embedder accepts (kept equal to its list by a test)."""


def register_lm_name_check(prefix: str, check: Callable[[str], str | None]) -> None:
    """Have :func:`configure` ask ``check(name)`` about LM names starting with ``prefix``.

    ``check`` returns ``None`` for a name it can build, else what is wrong and how to fix it.
    :mod:`engram.testing` registers one for ``"offline/"`` (unknown stand-in names).
    """
    _lm_name_checks[prefix] = check


def _check_lm_names(settings: dict[str, Any]) -> None:
    for key, value in settings.items():
        if key not in {"lm", "reflection_lm", "judge_lm"} or not isinstance(value, str) or "/" not in value:
            continue
        name = value.strip()
        prefix = name.split("/", 1)[0] + "/"
        if prefix not in _lm_name_checks:
            from engram._lazy import entry_points

            load = entry_points("engram.lm_prefixes").get(prefix)
            if load is not None:
                try:
                    load()  # the package that builds the prefix registers its check on import
                except Exception:  # noqa: BLE001 - building the LM reports a broken plugin
                    continue
        check = _lm_name_checks.get(prefix)
        problem = check(name) if check is not None else None
        if problem:
            raise ConfigurationError(f"Invalid setting '{key}' ({ENV_PREFIX}{key.upper()}): {problem}")


_lock = threading.Lock()
_overrides: dict[str, Any] = {}
_generation = [0]  # bumped by configure()/reset(); engram.lm rebuilds cached LMs when it moves


def _from_environment() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        raw = os.environ.get(ENV_PREFIX + name.upper())
        if raw is None or raw == "":
            continue
        if field.annotation is bool:
            values[name] = raw.strip().lower() in {"1", "true", "yes", "on"}
        else:
            values[name] = raw
    return values


def get_settings() -> Settings:
    """The settings in force: :func:`configure` overrides, then ``ENGRAM_*`` variables, then defaults."""
    with _lock:
        values = {**_from_environment(), **_overrides}
    return _validated(values)


def _validated(values: dict[str, Any]) -> Settings:
    try:
        return Settings(**values)
    except PydanticValidationError as err:
        first = err.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        raise ConfigurationError(
            f"Invalid setting '{name}' ({ENV_PREFIX}{name.upper()}): {first['msg']}."
        ) from None


def configure(**settings: Any) -> Settings:
    """Override settings for this process; ``None`` removes an override.

    Example::

        engram.configure(lm="offline/support", home="/tmp/engram")
    """
    unknown = set(settings) - set(Settings.model_fields)
    if unknown:
        known = ", ".join(sorted(Settings.model_fields))
        guesses = [f"{close[0]!r} for {name!r}" for name in sorted(unknown)
                   if (close := difflib.get_close_matches(name, list(Settings.model_fields), n=1, cutoff=0.7))]
        hint = f" (did you mean {', '.join(guesses)}?)" if guesses else ""
        raise ConfigurationError(f"Unknown setting(s) {sorted(unknown)}{hint}; known settings are: {known}.")
    _check_lm_names(settings)  # outside the lock: it may import the package of a prefix
    with _lock:
        proposed = dict(_overrides)
        for key, value in settings.items():
            if value is None:
                proposed.pop(key, None)
            else:
                proposed[key] = value
        validated = _validated({**_from_environment(), **proposed})  # a bad value changes nothing
        _overrides.clear()
        _overrides.update(proposed)
        _generation[0] += 1
    return validated


def reset() -> None:
    """Drop every :func:`configure` override (tests use this between cases)."""
    with _lock:
        _overrides.clear()
        _generation[0] += 1


def settings_generation() -> int:
    """A number that changes whenever :func:`configure` or :func:`reset` runs (for caches)."""
    with _lock:
        return _generation[0]
