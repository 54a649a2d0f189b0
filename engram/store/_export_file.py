"""The export file: its two formats (JSONL, Parquet), and the checks a file passes before import.

See :mod:`engram.store._export` for the layout. Reading returns every row with where it came
from (``source`` / ``line`` for :class:`~engram.errors.ValidationError`), so a problem is
reported as ``backup.jsonl:12: field 'vector': ...`` or ``backup.parquet row 3: ...``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from engram._files import atomic_path
from engram._version import __version__
from engram.errors import EngramError, ValidationError
from engram.store._checks import check_key, check_kind, check_text
from engram.store._filters import normalize_metadata
from engram.store._frame import StoredVersion
from engram.store._namespaces import validate_namespace
from engram.store._record import MemoryRecord, check_size, coerce_content, coerce_provenance

FORMAT = "engram.memory-export"
FORMAT_VERSION = 1
PARQUET_KEY = b"engram.export"
_JSON_COLUMNS = ("content", "metadata", "provenance")
_Key = tuple[tuple[str, ...], str]


def kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        return "jsonl"
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    raise ValidationError(f"{path}: unknown export format {suffix or '(no suffix)'!r}; "
                          f"name the file *.jsonl or *.parquet.")


def write_export(path: Path, manifest: dict[str, Any], table: list[dict[str, Any]]) -> None:
    """Write ``manifest`` and ``table`` to ``path`` atomically (format by suffix)."""
    kind = kind_of(path)
    with atomic_path(path) as tmp:
        if kind == "jsonl":
            with open(tmp, "w", encoding="utf-8") as out:
                out.writelines(json.dumps(item, ensure_ascii=False, allow_nan=False) + "\n"
                               for item in [{"manifest": manifest}, *table])
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        flat = [{k: (json.dumps(v, ensure_ascii=False) if k in _JSON_COLUMNS else v) for k, v in r.items()}
                for r in table]
        arrow = pa.Table.from_pylist(flat) if flat else pa.table({})
        arrow = arrow.replace_schema_metadata({PARQUET_KEY: json.dumps(manifest, ensure_ascii=False)})
        pq.write_table(arrow, tmp)


# -- reading and checking -------------------------------------------------------------------
#: Where a row came from, as ValidationError's ``source`` / ``line`` ("f.jsonl:12: ...", "f.parquet row 3: ...").
_Where = dict[str, Any]


def read_export(path: Path) -> tuple[dict[str, Any], list[tuple[_Where, dict[str, Any]]]]:
    """(manifest, [(where, row)]): the file parsed, not yet checked."""
    if not path.is_file():
        raise ValidationError(f"{path}: no such export file.")
    if kind_of(path) == "jsonl":
        return _read_jsonl(path)
    return _read_parquet(path)


def _read_jsonl(path: Path) -> tuple[dict[str, Any], list[tuple[_Where, dict[str, Any]]]]:
    manifest: dict[str, Any] | None = None
    out: list[tuple[_Where, dict[str, Any]]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ValidationError(f"not UTF-8 text ({err.reason} at byte {err.start}).", source=str(path)) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValidationError(f"not valid JSON: {err.msg} (column {err.colno}).",
                                  source=str(path), line=number) from None
        if not isinstance(item, dict):
            raise ValidationError(f"each line must be a JSON object, got {type(item).__name__}.",
                                  source=str(path), line=number)
        if manifest is None:
            if not isinstance(item.get("manifest"), dict):
                raise ValidationError("the first line must be the manifest {\"manifest\": {...}}; "
                                      "is this a file written by store.export()?", source=str(path), line=number)
            manifest = item["manifest"]
            continue
        out.append(({"source": str(path), "line": number}, item))
    if manifest is None:
        raise ValidationError("the file is empty; it has no manifest line.", source=str(path))
    return manifest, out


def _read_parquet(path: Path) -> tuple[dict[str, Any], list[tuple[_Where, dict[str, Any]]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError...
        raise ValidationError(f"not a readable Parquet file: {err}", source=str(path)) from None
    raw = (table.schema.metadata or {}).get(PARQUET_KEY)
    try:
        manifest = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        manifest = None
    if not isinstance(manifest, dict):
        raise ValidationError(f"the Parquet metadata has no valid {PARQUET_KEY.decode()!r} manifest; "
                              "is this a file written by store.export()?", source=str(path))
    out: list[tuple[_Where, dict[str, Any]]] = []
    for number, item in enumerate(table.to_pylist(), 1):
        where: _Where = {"source": f"{path} row {number}"}
        for col in _JSON_COLUMNS:
            if isinstance(item.get(col), str):
                try:
                    item[col] = json.loads(item[col])
                except json.JSONDecodeError as err:
                    raise ValidationError(f"not valid JSON: {err.msg}.", field=col, **where) from None
        out.append((where, item))
    return manifest, out


def check_manifest(path: Path, manifest: dict[str, Any]) -> None:
    if manifest.get("format") != FORMAT:
        raise ValidationError(f"manifest format is {manifest.get('format')!r}, not {FORMAT!r}; "
                              "import reads files written by store.export().", source=str(path))
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise ValidationError(f"format_version {version!r} is not one this engram ({__version__}) reads "
                              f"(1..{FORMAT_VERSION}); upgrade engram to import it.", source=str(path))


def check_row(where: _Where, item: dict[str, Any], dim: int | None,
              max_chars: int) -> tuple[MemoryRecord, list[float], bool]:
    """One row as (record, vector, current), or ValidationError naming the row and field."""
    def bad(message: str, name: str | None = None) -> ValidationError:
        return ValidationError(message, field=name, **where)

    body = dict(item)
    for name in ("namespace", "key", "version", "current", "content"):
        if name not in body:
            raise bad(f"missing {name!r}.", name)
    try:
        ns = validate_namespace(body.pop("namespace"))
        key = check_key(body.pop("key"))
    except EngramError as err:
        raise bad(str(err)) from None
    current, vector = body.pop("current"), body.pop("vector", None)
    if not isinstance(current, bool):
        raise bad(f"must be true or false, got {current!r}.", "current")
    if vector is not None:
        if not isinstance(vector, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                    and math.isfinite(x) for x in vector):
            raise bad("must be a list of finite numbers (or absent).", "vector")
        if dim is not None and len(vector) != dim:
            raise bad(f"has {len(vector)} numbers but the manifest's dimension is {dim}.", "vector")
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise bad(f"must be an int >= 1, got {version!r}.", "version")
    try:
        body["content"] = coerce_content(body["content"])
        body["metadata"] = normalize_metadata(body.get("metadata") or {})
        body["provenance"] = coerce_provenance(body.get("provenance"))
        check_kind(body.get("kind", "memory"))
        check_text(body.get("text"))
        record = MemoryRecord.model_validate({**body, "id": key, "namespace": ns})
        check_size(record.text, record.content, max_chars)
    except EngramError as err:
        raise bad(str(err)) from None
    except Exception as err:  # pydantic's message names the field
        raise bad(f"not a memory record: {err}".replace("\n", " ")) from None
    if record.created_at.tzinfo is None or record.updated_at.tzinfo is None:
        raise bad("timestamps need a timezone (exports write UTC, e.g. '2026-01-01T00:00:00+00:00').")
    return record, [float(x) for x in vector] if vector is not None else [], current


def check_groups(checked: list[tuple[_Where, StoredVersion]]) -> dict[_Key, list[StoredVersion]]:
    """Group versions by memory: versions distinct, exactly one current one, and it is the newest."""
    groups: dict[_Key, list[tuple[_Where, StoredVersion]]] = {}
    for where, v in checked:
        groups.setdefault((v.record.namespace, v.record.id), []).append((where, v))
    out: dict[_Key, list[StoredVersion]] = {}
    for (ns, key), found in groups.items():
        seen: set[int] = set()
        for where, v in found:
            if v.record.version in seen:
                raise ValidationError(f"memory {key!r} in {ns!r} has version {v.record.version} twice.", **where)
            seen.add(v.record.version)
        currents = [(w, v) for w, v in found if v.current]
        newest = max(found, key=lambda wv: wv[1].record.version)
        if len(currents) != 1 or currents[0][1] is not newest[1]:
            raise ValidationError(f"memory {key!r} in {ns!r} needs exactly one row with current=true, "
                                  f"its newest version ({newest[1].record.version}); found "
                                  f"{len(currents)} current row(s).", **newest[0])
        out[(ns, key)] = sorted((v for _, v in found), key=lambda v: v.record.version)
    return out




__all__ = ["FORMAT", "FORMAT_VERSION", "PARQUET_KEY", "check_groups", "check_manifest", "check_row",
           "kind_of", "read_export", "write_export"]
