"""Deleting a Chroma collection without leaving its list-valued metadata behind.

Chroma 1.5.9 (https://github.com/chroma-core/chroma/issues/7594) deletes a collection's rows but
not their list values (its ``embedding_metadata_array`` table). Those values are keyed by SQLite
row numbers, and the next rows written reuse the highest numbers, so a memory stored after
``purge(("u1",))`` could read back with u1's ``{"tags": [...]}``: another user's data, and a
``$contains`` filter that matches what was never written. Chroma's per-row delete does remove
the lists, so engram empties a collection before deleting it, and repairs a local store's file
on opening for values an earlier delete left. Example::

    delete_collection(client, collection, page=5000)   # rows first, then the collection
    remove_left_behind_lists(Path(".engram/chroma/chroma.sqlite3"))   # -> how many were removed
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

def empty_collection(collection: Any, page: int) -> None:
    """Delete every row of ``collection`` through Chroma's per-row delete, ``page`` rows a call."""
    while True:
        ids = collection.get(include=[], limit=page)["ids"]
        if not ids:
            return
        collection.delete(ids=ids)


def delete_collection(client: Any, collection: Any, page: int) -> None:
    """Delete ``collection``, its rows (with their list values) first, ``page`` rows a call."""
    empty_collection(collection, page)
    client.delete_collection(collection.name)


def remove_left_behind_lists(database: Path) -> int:
    """Delete the list values whose row is gone from the local Chroma file ``database``.

    Returns how many were removed (0 for a file without Chroma's array table). Call it before
    any write can reuse their row numbers.
    """
    if not database.is_file():
        return 0
    con = sqlite3.connect(database, timeout=30)
    try:
        with con:
            has_table = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                    "AND name = 'embedding_metadata_array'").fetchone()
            if not has_table:
                return 0
            return con.execute("DELETE FROM embedding_metadata_array "
                               "WHERE id NOT IN (SELECT id FROM embeddings)").rowcount
    finally:
        con.close()


__all__ = ["delete_collection", "empty_collection", "remove_left_behind_lists"]
