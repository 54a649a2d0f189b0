"""How a :class:`MemoryRecord` is laid out in a Chroma row, and back.

One row per record: the id is the record's key, the document is the embedded
``text``, and the metadata holds the user's metadata next to engram's own
fields, which start with ``_`` (users may not use that prefix)::

    _kind, _version, _created, _updated (epoch seconds, float), _deleted (bool),
    _content (JSON), _ctype ("str" | "dict"), _prov (JSON list),
    _ttl (seconds), _expires (epoch seconds; absent = never), _expired (epoch seconds, tombstones of a sweep)

History rows (in the store's history collection) add ``_ns`` (the namespace as
JSON) and ``_key``, since they share one collection across namespaces.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from engram.store._namespaces import namespace_key
from engram.store._record import MemoryRecord, Provenance

INTERNAL = ("_kind", "_version", "_created", "_updated", "_deleted", "_content", "_ctype", "_prov",
            "_ns", "_key", "_ttl", "_expires", "_expired")


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _from_ts(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value), tz=UTC)


def to_metadata(record: MemoryRecord) -> dict[str, Any]:
    """Chroma metadata for ``record`` (user keys + engram's ``_`` fields)."""
    meta: dict[str, Any] = dict(record.metadata)
    is_str = isinstance(record.content, str)
    meta.update(
        _kind=record.kind,
        _version=record.version,
        _created=_ts(record.created_at),
        _updated=_ts(record.updated_at),
        _deleted=record.deleted,
        _ctype="str" if is_str else "dict",
        _content=record.content if is_str else json.dumps(record.content, ensure_ascii=False),
    )
    # only expiring rows carry _expires, so rows written before expiry existed read as "never"
    if record.ttl is not None:
        meta["_ttl"] = float(record.ttl)
    if record.expires_at is not None:
        meta["_expires"] = _ts(record.expires_at)
    if record.expired_at is not None:
        meta["_expired"] = _ts(record.expired_at)
    if record.provenance:
        meta["_prov"] = json.dumps([p.model_dump(exclude_none=True) for p in record.provenance],
                                   ensure_ascii=False)
    return meta


def replacing_metadata(record: MemoryRecord, previous: MemoryRecord) -> dict[str, Any]:
    """:func:`to_metadata` of ``record`` for a row that holds ``previous``: Chroma's upsert *merges*
    metadata, so every key ``previous`` had and ``record`` has not (a removed user key, a cleared
    TTL or provenance) is sent as None, which is how Chroma deletes a key."""
    meta = to_metadata(record)
    return {**{k: None for k in to_metadata(previous) if k not in meta}, **meta}


def history_metadata(record: MemoryRecord) -> dict[str, Any]:
    meta = to_metadata(record)
    meta["_ns"] = namespace_key(record.namespace)
    meta["_key"] = record.id
    return meta


def history_id(collection: str, key: str, version: int) -> str:
    # the collection name already encodes the namespace, so ids never collide across tenants
    return f"{collection}|{version:010d}|{key}"


def from_row(namespace: tuple[str, ...], key: str, document: str | None,
             meta: dict[str, Any], score: float | None = None) -> MemoryRecord:
    """Rebuild a record from a Chroma row (``get`` or ``query`` result)."""
    raw = meta.get("_content", "")
    content: Any = raw if meta.get("_ctype") == "str" else json.loads(raw or "{}")
    prov = [Provenance(**p) for p in json.loads(meta["_prov"])] if meta.get("_prov") else []
    user_meta = {k: v for k, v in meta.items() if not k.startswith("_")}
    return MemoryRecord.model_construct(
        id=key,
        namespace=namespace,
        kind=meta.get("_kind", "memory"),
        content=content,
        text=document or "",
        metadata=user_meta,
        created_at=_from_ts(meta.get("_created", 0)),
        updated_at=_from_ts(meta.get("_updated", 0)),
        version=int(meta.get("_version", 1)),
        provenance=prov,
        deleted=bool(meta.get("_deleted", False)),
        score=score,
        ttl=float(meta["_ttl"]) if meta.get("_ttl") is not None else None,
        expires_at=_from_ts(meta["_expires"]) if meta.get("_expires") is not None else None,
        expired_at=_from_ts(meta["_expired"]) if meta.get("_expired") is not None else None,
    )


def expires_ts(meta: Mapping[str, Any]) -> float | None:
    """A row's expiry as epoch seconds, or None when it never expires."""
    value = meta.get("_expires")
    return None if value is None else float(value)


def rows(result: Mapping[str, Any]) -> list[tuple[str, str | None, dict[str, Any], Any]]:
    """Flatten a Chroma ``get`` result into (id, document, metadata, embedding) tuples."""
    ids = result.get("ids") or []
    docs = result.get("documents") or [None] * len(ids)
    metas = result.get("metadatas") or [{}] * len(ids)
    embs = result.get("embeddings")
    if embs is None:
        embs = [None] * len(ids)
    return [(i, d, m or {}, e) for i, d, m, e in zip(ids, docs, metas, embs)]
