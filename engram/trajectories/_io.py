"""Reading and writing trajectories: JSONL, CSV, Parquet and pandas tables.

Every problem is reported as an :class:`engram.ValidationError` that names the
file, the line (the row, for tables) and the field, e.g.
``support.jsonl:12: field 'feedback.score': score must be a number in [0, 1], got 1.5``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any


from engram._files import atomic_path, atomic_write_text
from engram.errors import ValidationError
from engram.trajectories._types import Trajectory

if TYPE_CHECKING:
    import pandas as pd

MAX_LINE_BYTES = 1_000_000
# Columns whose values are nested; stored as JSON text in CSV and Parquet (with an example each,
# for the error that a value is not JSON).
_NESTED_EXAMPLES = {"messages": '[{"role": "user", "content": "hi"}]', "tags": '["vip"]',
                    "metadata": '{"plan": "pro"}', "feedback_extra": '{"rank": 0}'}
NESTED_COLUMNS = tuple(_NESTED_EXAMPLES)
FEEDBACK_FIELDS = ("score", "label", "comment", "source", "extra")
SUPPORTED_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


def parse_record(record: Any, *, source: str, line: int) -> Trajectory:
    """Validate one record (a dict) into a Trajectory, or raise a located ValidationError."""
    if not isinstance(record, dict):
        raise ValidationError(
            f"expected a JSON object with 'messages', got {type(record).__name__}",
            source=source, line=line,
        )
    if "messages" not in record:
        for keys, what, advice in _OTHER_FORMATS:
            if keys <= record.keys():
                raise ValidationError(f"this is {what}, not a trajectory; {advice}", source=source, line=line)
    try:
        return Trajectory.model_validate(record)
    except ValidationError as err:  # already explained (engram_validation_error): add where it is
        raise ValidationError(err.reason, source=source, line=line, field=err.field or "(record)") from err.__cause__

# Public data engram reads through a loader, recognised by its keys, so the error names the loader.
_OTHER_FORMATS = (
    ({"message_tree_id", "prompt"}, "an OpenAssistant conversation tree",
     "engram.loaders.load_oasst(path), or `engram datasets convert --from oasst PATH OUT.jsonl`, turns each tree "
     "into trajectories with the human votes as feedback"),
    ({"sample_id", "conversation", "qa"}, "a LoCoMo conversation with questions",
     "engram.loaders.load_locomo(path) reads it (for retrieval evaluation, as benchmarks/locomo_retrieval.py does)"),
)

_ARRAY_HINT = ("this looks like a JSON array, not JSON Lines: rename the file to .json, or write one "
               "trajectory object per line")


def check_readable(path: Path) -> None:
    """A located ValidationError when ``path`` is missing or a directory."""
    if path.is_dir():
        raise ValidationError("is a directory; pass a dataset file (.jsonl, .json, .csv or .parquet)",
                              source=str(path))
    if not path.exists():
        raise ValidationError("file not found; check the path", source=str(path))


def iter_jsonl(path: str | Path, *, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Trajectory]:
    """Yield trajectories from a JSONL file, raising at the first bad line (a leading BOM is skipped)."""
    source = str(path)
    check_readable(Path(path))
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise ValidationError("file not found; check the path", source=source) from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if len(raw) > max_line_bytes:
                raise ValidationError(
                    f"line is {len(raw):,} bytes, over the {max_line_bytes:,}-byte limit "
                    "(split the conversation or raise max_line_bytes)",
                    source=source, line=number,
                )
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise ValidationError(
                    f"not valid UTF-8 (byte {err.start}); re-encode the file as UTF-8",
                    source=source, line=number,
                ) from None
            if not text.strip():
                continue
            if number == 1 and text.strip() == "[":
                raise ValidationError(_ARRAY_HINT, source=source, line=number)
            try:
                record = json.loads(text)
            except json.JSONDecodeError as err:
                raise ValidationError(
                    f"invalid JSON: {err.msg} at column {err.colno}", source=source, line=number
                ) from None
            except RecursionError:
                raise ValidationError("JSON nested too deeply to be a trajectory; each line is one "
                                      "trajectory object", source=source, line=number) from None
            if isinstance(record, list) and number == 1:
                raise ValidationError(_ARRAY_HINT, source=source, line=number)
            yield parse_record(record, source=source, line=number)


def write_jsonl(trajectories: list[Trajectory], path: str | Path) -> None:
    """Write trajectories as JSONL, atomically (a temporary file renamed into place)."""
    lines = [json.dumps(t.to_record(), ensure_ascii=False, sort_keys=True) for t in trajectories]
    atomic_write_text(Path(path), "".join(line + "\n" for line in lines))


def to_rows(trajectories: list[Trajectory]) -> list[dict[str, Any]]:
    """Flat rows: one per trajectory, feedback split into ``feedback_*`` columns."""
    rows = []
    for t in trajectories:
        fb = t.feedback
        rows.append({
            "id": t.id,
            "messages": [m.to_openai() for m in t.messages],
            "feedback_score": fb.score if fb else None,
            "feedback_label": fb.label if fb else None,
            "feedback_comment": fb.comment if fb else None,
            "feedback_source": fb.source if fb else None,
            "feedback_extra": dict(fb.extra) if fb else None,
            "prompt_name": t.prompt_name,
            "prompt_version": t.prompt_version,
            "user": t.user,
            "thread": t.thread,
            "time": t.time,
            "tags": list(t.tags),
            "metadata": dict(t.metadata),
        })
    return rows


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        result = pd.isna(value)
        return bool(result) if isinstance(result, bool) or getattr(result, "ndim", 1) == 0 else False
    except (TypeError, ValueError):
        return False


def from_rows(rows: list[dict[str, Any]], *, source: str, decode_json: bool,
              first_line: int = 1) -> list[Trajectory]:
    """Trajectories from flat rows (inverse of :func:`to_rows`); ``line`` counts rows."""
    out = []
    for offset, row in enumerate(rows):
        line = first_line + offset
        record: dict[str, Any] = {}
        feedback: dict[str, Any] = {}
        for key, value in row.items():
            if _is_missing(value):
                continue
            if decode_json and key in NESTED_COLUMNS and isinstance(value, str):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as err:
                    shown = value if len(value) <= 40 else value[:37] + "..."
                    raise ValidationError(f"invalid JSON ({err.msg}): the {key!r} column holds JSON text, "
                                          f"e.g. {_NESTED_EXAMPLES[key]}; got {shown!r}", source=source, line=line,
                                          field=key) from None
            if hasattr(value, "tolist"):  # numpy arrays from Parquet
                value = value.tolist()
            if key.startswith("feedback_"):
                feedback[key.removeprefix("feedback_")] = value
            elif key == "time" and hasattr(value, "to_pydatetime"):
                record[key] = value.to_pydatetime()
            else:
                record[key] = value
        if feedback:
            record["feedback"] = feedback
        out.append(parse_record(record, source=source, line=line))
    return out


def to_dataframe(trajectories: list[Trajectory]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(to_rows(trajectories))


def _encode_nested(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for column in NESTED_COLUMNS:
        if column in df:
            df[column] = [None if v is None else json.dumps(v, ensure_ascii=False, sort_keys=True)
                          for v in df[column]]
    return df


def read_table(path: Path) -> list[Trajectory]:
    import pandas as pd

    source = str(path)
    check_readable(path)
    try:
        if path.suffix.lower() == ".csv":
            df = pd.read_csv(path, dtype={"id": str, "prompt_version": str, "user": str, "thread": str},
                             keep_default_na=False, na_values=[""], encoding="utf-8-sig")
        else:
            df = pd.read_parquet(path)
    except UnicodeDecodeError as err:
        raise ValidationError(f"not valid UTF-8 (byte {err.start}); re-encode the file as UTF-8",
                              source=source) from None
    except Exception as err:  # pandas / pyarrow parse errors have many types
        row = re.search(r"(?:row|line) (\d+)", str(err))
        line = int(row.group(1)) + (1 if path.suffix.lower() == ".csv" else 0) if row else None
        raise ValidationError(f"cannot read {path.suffix[1:].upper()}: {err}", source=source, line=line) from None
    # CSV line numbers count the header line; Parquet rows count from 1.
    first_line = 2 if path.suffix.lower() == ".csv" else 1
    return from_rows(df.to_dict("records"), source=source, decode_json=True, first_line=first_line)


def write_table(trajectories: list[Trajectory], path: Path) -> None:
    import pandas as pd

    df = _encode_nested(pd.DataFrame(to_rows(trajectories)))
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)


def check_suffix(path: Path) -> str:
    """The file's suffix in lower case (``data.JSONL`` is JSONL), or a ValidationError naming the ones supported."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ValidationError(
            f"unsupported file type '{path.suffix or '(none)'}'; use one of "
            + ", ".join(SUPPORTED_SUFFIXES),
            source=str(path),
        )
    return path.suffix.lower()
