"""Service settings: from ``ENGRAM_SERVE_*`` variables (so every uvicorn worker agrees) or arguments.

    ServeSettings.from_env().db_url    # 'sqlite:////.../.engram/serve.db'
    ServeSettings(allowed_hosts="mcp.example.com,proxy:8443").allowed_hosts   # ['mcp.example.com', 'proxy:8443']

The store and tracking come from engram's own settings (``ENGRAM_HOME``,
``ENGRAM_CHROMA_URL``, ``ENGRAM_TRACKING_URI``, ``ENGRAM_LM``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from engram.errors import ConfigurationError

ENV_PREFIX = "ENGRAM_SERVE_"
# A Host header value: a name or IPv4 address, or a bracketed IPv6 address, with an optional :port or :*.
_HOST = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})|\[[0-9A-Fa-f:.]+\])(?::(?:\d{1,5}|\*))?$")


class ServeSettings(BaseModel):
    """Limits and places of the service (each field: ``ENGRAM_SERVE_<NAME>``)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Interface the server listens on (MCP checks the Host header "
                                               "against it when it is a loopback address).")
    db: str | None = Field(None, description="Job database URL; SQLite under ENGRAM_HOME if unset.")
    keys_path: Path | None = Field(None, description="API key database; <home>/serve-keys.db if unset.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest accepted request body.")
    rate_per_second: float = Field(50.0, gt=0, description="Sustained requests per second per key.")
    rate_burst: int = Field(100, ge=1, description="Requests a key may send at once before limiting.")
    job_concurrency: int = Field(2, ge=1, le=64, description="Jobs run at once per server process.")
    job_lease_seconds: float = Field(30.0, ge=0.5, description="A job whose process stops renewing it for "
                                                               "this long is resumed by another process.")
    run_jobs: bool = Field(True, description="Run queued jobs in this process.")
    mcp_namespace: str = Field("memories", description="Namespace (relative, '/'-separated parts) the MCP "
                                                       "memory tools use.")
    allowed_hosts: list[str] = Field(default_factory=list, description=(
        "More Host header values /mcp accepts besides the loopback names, e.g. the name a reverse proxy "
        "forwards ('mcp.example.com'; without a port, any port). Comma-separated in the variable. With any, "
        "the check is on whatever the interface; without, it is on only when listening on loopback."))

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        for host in value:
            if "://" in host or "/" in host:
                raise PydanticCustomError("allowed_host", "{host} is a URL; give the host as clients send it in "
                                          "the Host header, e.g. 'mcp.example.com' or 'mcp.example.com:8443'",
                                          {"host": repr(host)})
            if not _HOST.fullmatch(host):
                raise PydanticCustomError("allowed_host", "{host} is not a host name, an IP address or "
                                          "'[IPv6]', with an optional ':port' or ':*'", {"host": repr(host)})
        return list(dict.fromkeys(value))

    @classmethod
    def from_env(cls, **overrides: Any) -> ServeSettings:
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = os.environ.get(ENV_PREFIX + name.upper())
            if raw not in (None, ""):
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except PydanticValidationError as err:
            first = err.errors()[0]
            name = ".".join(str(p) for p in first["loc"])
            raise ConfigurationError(f"invalid service setting {ENV_PREFIX}{name.upper()}: {first['msg']}.") from None

    def resolved_db(self, home: Path) -> str:
        return self.db or f"sqlite:///{(home / 'serve-jobs.db').resolve()}"

    def resolved_keys_path(self, home: Path) -> Path:
        return self.keys_path or home / "serve-keys.db"

    def to_env(self) -> dict[str, str]:
        """These settings as ``ENGRAM_SERVE_*`` variables (for worker processes)."""
        return {ENV_PREFIX + k.upper(): ",".join(v) if isinstance(v, list) else str(v)
                for k, v in self.model_dump().items() if v is not None}


__all__ = ["ServeSettings"]
