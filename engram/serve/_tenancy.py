"""Tenants and their namespaces: every namespace a client names is relative to its tenant.

The server never trusts a namespace from a request. Each part is checked (NFKC-normalized
and compared with itself, so look-alikes of ``/`` such as ``／`` or ``∕`` are refused, as
are ``..``, ``%2F``, template braces, control characters and empty parts), then prefixed::

    scoped("acme", ["memories", "u1"])      # ('tenants', 'acme', 'memories', 'u1')
    scoped("acme", ["..", "globex"])        # NamespaceError: part 0 ('..') ...
    unscoped("acme", ('tenants', 'acme', 'memories', 'u1'))   # ('memories', 'u1')

Namespaces are tuples (one Chroma collection each), so the prefix is structural: no
string a client sends can climb out of ``('tenants', <its tenant>)``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from engram.errors import NamespaceError, ValidationError
from engram.store import INTERNAL_PREFIX, is_internal

ROOT = "tenants"
MAX_PARTS = 8
MAX_PART_CHARS = 128
# Punctuation allowed inside a part besides letters and digits of any script; every
# separator-like symbol (/, \, %, {, }, look-alikes) falls outside this set.
_PUNCT = frozenset("_-.:@+=")
# Parts the library uses for its own bookkeeping (the manager's ledger) stay unreachable:
# the store's rule (engram.store.is_internal), so what it hides no client can name.
_RESERVED_PREFIX = INTERNAL_PREFIX
TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
PROMPT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def check_tenant(tenant: str) -> str:
    """A tenant name: lowercase letters, digits, ``_`` and ``-`` (1-63 chars)."""
    if not isinstance(tenant, str) or not TENANT_RE.fullmatch(tenant):
        raise ValidationError(f"tenant {tenant!r} is invalid: use 1-63 lowercase letters, digits, '_' or '-', "
                              "starting with a letter or digit.", field="tenant")
    return tenant


def check_part(part: Any, index: int, field: str = "namespace") -> str:
    """One namespace part, or NamespaceError naming the part and what is wrong with it."""
    where = f"{field}[{index}]"
    if not isinstance(part, str):
        raise NamespaceError(f"{where} must be a string, got {type(part).__name__}.")
    if not part:
        raise NamespaceError(f"{where} is empty; every namespace part needs at least one character.")
    if len(part) > MAX_PART_CHARS:
        raise NamespaceError(f"{where} is longer than {MAX_PART_CHARS} characters.")
    if unicodedata.normalize("NFKC", part) != part:
        raise NamespaceError(f"{where} ({part!r}) is not in NFKC form (it holds a compatibility look-alike "
                             f"character); write {unicodedata.normalize('NFKC', part)!r} instead.")
    bad = [ch for ch in part if not (ch.isalnum() or ch in _PUNCT)]
    if bad:
        raise NamespaceError(f"{where} ({part!r}) contains {bad[0]!r}; namespace parts may hold letters, "
                             f"digits and {''.join(sorted(_PUNCT))} only (a namespace is a list of parts, "
                             "not a path).")
    if set(part) == {"."}:
        raise NamespaceError(f"{where} ({part!r}) is a path step; namespace parts cannot be '.' or '..'.")
    if part.lower().startswith(_RESERVED_PREFIX):
        raise NamespaceError(f"{where} ({part!r}) starts with the reserved prefix {_RESERVED_PREFIX!r}.")
    return part


def check_relative(namespace: Any, field: str = "namespace", *, allow_empty: bool = False) -> tuple[str, ...]:
    """A client namespace (list of parts), validated but not yet prefixed."""
    if isinstance(namespace, str):
        raise NamespaceError(f"{field} must be a list of strings such as [\"memories\", \"u1\"], not a string.")
    if not isinstance(namespace, Sequence):
        raise NamespaceError(f"{field} must be a list of strings, got {type(namespace).__name__}.")
    if not namespace and not allow_empty:
        raise NamespaceError(f"{field} needs at least one part, e.g. [\"memories\", \"u1\"].")
    if len(namespace) > MAX_PARTS:
        raise NamespaceError(f"{field} has {len(namespace)} parts; at most {MAX_PARTS} are allowed.")
    return tuple(check_part(p, i, field) for i, p in enumerate(namespace))


def scoped(tenant: str, namespace: Any, field: str = "namespace", *, allow_empty: bool = False) -> tuple[str, ...]:
    """The store namespace for a tenant's relative ``namespace``."""
    return (ROOT, check_tenant(tenant), *check_relative(namespace, field, allow_empty=allow_empty))


def unscoped(tenant: str, namespace: Sequence[str]) -> tuple[str, ...]:
    """The client's view of a store namespace of ``tenant`` (its prefix removed)."""
    prefix = (ROOT, tenant)
    if tuple(namespace[:2]) != prefix:
        raise NamespaceError(f"namespace {tuple(namespace)!r} does not belong to tenant {tenant!r}.")
    return tuple(namespace[2:])


def check_memory_key(key: Any, field: str = "key") -> str:
    """A memory key from a request: the same alphabet as a namespace part."""
    try:
        return check_part(key, 0, field)
    except NamespaceError as err:
        raise ValidationError(str(err).replace(f"{field}[0]", field), field=field) from None


def namespace_key_for(store_namespace: Sequence[str], thread_id: str) -> str:
    """The debounce key of a thread's queued extraction in one (scoped) namespace."""
    import json

    return json.dumps([*store_namespace, thread_id], ensure_ascii=False)


def prompt_ref(tenant: str, name: str, alias: str | None = None, version: int | None = None) -> str:
    """The registry name of a tenant's prompt: ``<tenant>.<name>`` (neither part may hold a dot)."""
    if not isinstance(name, str) or not PROMPT_NAME_RE.fullmatch(name):
        raise ValidationError(f"prompt name {name!r} is invalid: use letters, digits, '_' and '-' "
                              "(up to 128 characters).", field="name")
    ref = f"{check_tenant(tenant)}.{name}"
    if version is not None:
        return f"{ref}/{int(version)}"
    if alias:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", alias):
            raise ValidationError(f"alias {alias!r} is invalid: use letters, digits, '_' and '-'.", field="alias")
        return f"{ref}@{alias}"
    return ref


__all__ = ["ROOT", "check_memory_key", "check_part", "check_relative", "check_tenant", "is_internal", "namespace_key_for",
           "prompt_ref", "scoped", "unscoped"]
