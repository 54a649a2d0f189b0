"""API keys: created once, stored only as salted hashes, mapped to a tenant and scopes.

A key looks like ``egk_<id>_<secret>``; the id finds the row, the secret is checked
against ``sha256(salt || secret)`` with a constant-time compare. Only the hash and the
salt are stored (SQLite under ``ENGRAM_HOME``), so a leaked database gives no usable key::

    keys = KeyStore(tmp_path / "serve.db")
    created = keys.create("acme", ["read", "write"])
    created.key                       # 'egk_3f2a...' (shown once)
    keys.verify(created.key).tenant   # 'acme'
    keys.revoke(created.id)
    keys.verify(created.key)          # None

Secrets are 32 random bytes, so one fast salted hash is enough (a password KDF protects
low-entropy secrets; these have 256 bits).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from engram.errors import NotFoundError, ValidationError
from engram.serve._tenancy import check_tenant

SCOPES = ("read", "write", "optimize", "admin")
PREFIX = "egk_"
_CACHE_SECONDS = 2.0  # a revoked key stops working within this delay in every worker

_SCHEMA = """
create table if not exists api_keys (
    id text primary key,
    tenant text not null,
    scopes text not null,
    salt text not null,
    hash text not null,
    name text not null default '',
    created_at text not null,
    revoked_at text
)
"""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (never the key), its tenant and scopes."""

    key_id: str
    tenant: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True)
class KeyInfo:
    """A stored key as ``keys list`` shows it (no secret, no hash)."""

    id: str
    tenant: str
    scopes: list[str]
    name: str
    created_at: str
    revoked_at: str | None = None


@dataclass(frozen=True)
class CreatedKey(KeyInfo):
    """A new key; ``key`` is the only copy of the secret."""

    key: str = field(default="", repr=False)


def parse_scopes(scopes: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"read,write"`` or a list -> checked, ordered scopes."""
    items = [s.strip() for s in (scopes.split(",") if isinstance(scopes, str) else scopes) if s.strip()]
    unknown = sorted(set(items) - set(SCOPES))
    if not items or unknown:
        raise ValidationError(f"scopes {items!r} are invalid: choose from {', '.join(SCOPES)}.", field="scopes")
    return [s for s in SCOPES if s in items]


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


class KeyStore:
    """API keys in a SQLite file (see the module docstring). Safe across threads and processes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        with self._connect() as db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("pragma journal_mode=wal")
        return db

    def create(self, tenant: str, scopes: str | list[str], *, name: str = "") -> CreatedKey:
        """A new key for ``tenant`` with ``scopes``; the returned ``key`` is never stored."""
        tenant, chosen = check_tenant(tenant), parse_scopes(scopes)
        key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_hex(16)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._connect() as db:
            db.execute("insert into api_keys (id, tenant, scopes, salt, hash, name, created_at) "
                       "values (?, ?, ?, ?, ?, ?, ?)",
                       (key_id, tenant, ",".join(chosen), salt, _digest(salt, secret), name, created))
        return CreatedKey(key_id, tenant, chosen, name, created, None, key=f"{PREFIX}{key_id}_{secret}")

    def list(self, *, include_revoked: bool = True) -> list[KeyInfo]:
        """Every key (id, tenant, scopes, dates), oldest first."""
        with self._connect() as db:
            rows = db.execute("select id, tenant, scopes, name, created_at, revoked_at from api_keys "
                              "order by created_at, id").fetchall()
        out = [KeyInfo(r[0], r[1], r[2].split(","), r[3], r[4], r[5]) for r in rows]
        return out if include_revoked else [k for k in out if k.revoked_at is None]

    def revoke(self, key_id: str) -> KeyInfo:
        """Revoke a key by id (``keys list`` shows ids); idempotent."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._connect() as db:
            db.execute("update api_keys set revoked_at = coalesce(revoked_at, ?) where id = ?", (now, key_id))
            row = db.execute("select id, tenant, scopes, name, created_at, revoked_at from api_keys where id = ?",
                             (key_id,)).fetchone()
        with self._lock:
            self._cache.clear()
        if row is None:
            raise NotFoundError(f"no API key with id {key_id!r}; `engram keys list` shows the ids.")
        return KeyInfo(row[0], row[1], row[2].split(","), row[3], row[4], row[5])

    def verify(self, key: str | None) -> Principal | None:
        """The principal of a live key, or None (unknown, malformed, wrong secret or revoked)."""
        if not key or not isinstance(key, str) or not key.startswith(PREFIX) or len(key) > 200:
            return None
        memo = hashlib.sha256(key.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(memo)
        if hit is not None and now - hit[0] < _CACHE_SECONDS:
            return hit[1]
        principal = self._lookup(key)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[memo] = (now, principal)
        return principal

    def _lookup(self, key: str) -> Principal | None:
        key_id, _, secret = key.removeprefix(PREFIX).partition("_")
        if not key_id or not secret:
            return None
        with self._connect() as db:
            row = db.execute("select tenant, scopes, salt, hash, revoked_at from api_keys where id = ?",
                             (key_id,)).fetchone()
        if row is None or row[4] is not None:
            return None
        if not hmac.compare_digest(_digest(row[2], secret), row[3]):
            return None
        return Principal(key_id, row[0], frozenset(row[1].split(",")))


__all__ = ["SCOPES", "CreatedKey", "KeyInfo", "KeyStore", "Principal", "parse_scopes"]
