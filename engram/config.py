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

import os
import threading
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
        return value.strip()

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
        raise ConfigurationError(f"Unknown setting(s) {sorted(unknown)}; known settings are: {known}.")
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
