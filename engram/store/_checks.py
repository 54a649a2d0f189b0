"""Argument checks shared by the store's entry points.

Every public call checks its arguments before touching Chroma, so a wrong type
is a :class:`~engram.errors.ValidationError` that names the argument and says
what it accepts, never a ``TypeError`` from deep inside, and nothing is written.
Example::

    check_key(5)                  # ValidationError: key must be a non-empty string ... got int 5
    check_flag("hard", "yes")     # ValidationError: hard must be True or False ...
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engram.errors import EngramError, ValidationError

MAX_KEY_CHARS = 512
MAX_KIND_CHARS = 200


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:80]}{'...' if len(text) > 80 else ''}"


def check_storable(text: str, what: str, error: type[EngramError] = ValidationError) -> str:
    """``text`` if it can be stored as UTF-8. A lone surrogate (half of an emoji cut in two, as
    JavaScript or a truncated UTF-16 buffer leaves it) cannot: Chroma and the tokenizer fail on it
    with errors that do not say which string.

    >>> check_storable("caf\u00e9 \U0001f389", "key")
    'café 🎉'
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise error(
            f"{what} holds {text[err.start]!r}, half of a UTF-16 surrogate pair: not text, so it cannot be "
            f"stored (a string cut in the middle of an emoji looks like this). Repair it first, e.g. "
            f"value.encode('utf-16', 'surrogatepass').decode('utf-16', 'replace')."
        ) from None
    return text


def check_key(key: Any, name: str = "key") -> str:
    """A memory key: a non-empty string of at most 512 characters."""
    if not isinstance(key, str) or not key.strip():
        raise ValidationError(f"{name} must be a non-empty string (the memory's id), got {_shown(key)}.")
    if len(key) > MAX_KEY_CHARS:
        raise ValidationError(f"{name} is longer than {MAX_KEY_CHARS} characters; use a shorter id.")
    return check_storable(key, name)


def check_keys(keys: Any) -> list[str] | None:
    """``keys=`` of search: None or a list of keys (a lone string is a common slip)."""
    if keys is None:
        return None
    if isinstance(keys, (str, bytes, dict)) or not isinstance(keys, Iterable):
        raise ValidationError(f"keys must be a list of memory keys or None, got {_shown(keys)}; "
                              f"wrap a single key in a list: keys=['k'].")
    out = list(keys)
    for key in out:
        check_key(key, "each of keys")
    return out


def check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be True or False, got {_shown(value)}.")
    return value


def check_kind(kind: Any, *, optional: bool = False) -> str | None:
    """A record kind (a schema name such as ``"memory"`` or ``"message"``)."""
    if kind is None and optional:
        return None
    if not isinstance(kind, str) or not kind.strip():
        raise ValidationError(f"kind must be a non-empty string (a schema name such as 'memory')"
                              f"{' or None' if optional else ''}, got {_shown(kind)}.")
    if len(kind) > MAX_KIND_CHARS:
        raise ValidationError(f"kind is longer than {MAX_KIND_CHARS} characters; use a schema name.")
    return check_storable(kind, "kind")


def check_version(name: str, value: Any, *, optional: bool, minimum: int) -> int | None:
    """A version number (``expected_version`` may be None and 0 = "must not exist yet")."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{name} must be an int >= {minimum}{' or None' if optional else ''}, "
                              f"got {_shown(value)}.")
    return value


def check_text(text: Any) -> str | None:
    if text is not None and (not isinstance(text, str) or not text.strip()):
        raise ValidationError(f"text must be a non-empty string (what gets embedded) or None, got {_shown(text)}.")
    return text if text is None else check_storable(text, "text")


def check_page(limit: Any, offset: Any) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValidationError(f"limit must be a positive int, got {_shown(limit)}.")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValidationError(f"offset must be an int >= 0, got {_shown(offset)}.")


def check_query(query: Any) -> str | None:
    if query is not None and (not isinstance(query, str) or not query.strip()):
        raise ValidationError(f"query must be a non-empty string or None, got {_shown(query)}.")
    return query if query is None else check_storable(query, "query")


def check_items(items: Any) -> list[Any]:
    """``put_many``'s batch: a list (or other iterable) of dicts or MemoryRecords."""
    if items is None or isinstance(items, (str, bytes, dict)) or not isinstance(items, Iterable):
        hint = " (wrap a single item in a list)" if isinstance(items, dict) else ""
        raise ValidationError(f"items must be a list of dicts or MemoryRecords{hint}, got {_shown(items)}.")
    return list(items)


__all__ = ["check_flag", "check_items", "check_key", "check_keys", "check_kind", "check_page",
           "check_query", "check_text", "check_version"]
