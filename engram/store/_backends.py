"""Chroma clients for the three backends: in-memory, a persistent directory, a server.

- **in-memory** (tests, notebooks): Chroma's ephemeral clients share one
  in-process database, so each store gets its own Chroma *database* and two
  in-memory stores never see each other's data.
- **persistent** (default, ``.engram/chroma``): ``chromadb.PersistentClient``.
  It is safe from many threads of **one** process; it is *not* safe for several
  writer processes on the same directory (Chroma's SQLite + HNSW files are not
  coordinated across processes), so the directory's owner lock
  (:mod:`engram.store._owner`) refuses a second process. Use the server for that.
- **server** (``chromadb.HttpClient``): the multi-process / multi-machine setup.
  Start one with ``chroma run --path DIR --port 8000`` and set
  ``ENGRAM_CHROMA_URL=http://host:8000``.
"""

from __future__ import annotations

import uuid
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from engram.errors import ConfigurationError, StoreError
from engram.store._collections import page_size
from engram.store._left_behind import empty_collection, remove_left_behind_lists
from engram.store._owner import DirectoryOwner

DEFAULT_TIMEOUT = 10.0


def in_memory_client() -> Any:
    """A fresh, private in-memory Chroma database."""
    import chromadb
    from chromadb.config import Settings

    database = f"engram_{uuid.uuid4().hex}"
    settings = Settings(is_persistent=False, anonymized_telemetry=False)
    chromadb.AdminClient(settings).create_database(database)
    return chromadb.EphemeralClient(settings=settings, database=database)


def drop_in_memory(client: Any) -> None:
    """Free a private in-memory database made by :func:`in_memory_client`."""
    import chromadb
    from chromadb.config import Settings

    database = getattr(client, "database", "")
    if database.startswith("engram_"):
        try:
            # every in-memory store shares one SQLite database: rows first, so the next store
            # does not inherit this one's list values (see _left_behind)
            for collection in client.list_collections():
                empty_collection(collection, page_size(client))
            chromadb.AdminClient(Settings(is_persistent=False, anonymized_telemetry=False)).delete_database(database)
        except Exception:  # already gone: nothing to free
            pass


def persistent_client(path: str | Path) -> tuple[Any, DirectoryOwner]:
    """A Chroma client on a directory (created if missing), and this process's claim on it.

    Raises :class:`StoreError` when another process owns the directory, or when its
    database file is gone although the directory held data.
    """
    import chromadb
    from chromadb.config import Settings

    if not isinstance(path, (str, Path)) or not str(path).strip():
        raise ConfigurationError(f"the store path must be a directory path (str or Path), got {path!r}.")
    directory = Path(path).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigurationError(
            f"cannot create the memory store directory {directory}: {err}. Set ENGRAM_HOME "
            f"or pass MemoryStore.persistent(path=...) to a writable place."
        ) from None
    if not directory.is_dir():
        raise ConfigurationError(f"the store path {directory} is not a directory; pass a directory.")
    owner = DirectoryOwner.acquire(directory)
    try:
        owner.check_data()
        _repair(directory / "chroma.sqlite3")
        client = chromadb.PersistentClient(path=str(directory), settings=Settings(anonymized_telemetry=False))
    except StoreError:
        owner.release()
        raise
    except Exception as err:
        owner.release()
        raise StoreError(f"cannot open the Chroma store at {directory}: {err}") from err
    return client, owner


def _repair(database: Path) -> None:
    from chromadb.api.shared_system_client import SharedSystemClient

    # Only before this process's first Chroma client on the directory: Chroma's SQLite is a
    # second copy of the library in this process, and two copies must not share an open file.
    # A client made earlier here was repaired then, and engram leaves nothing behind since.
    opened = {Path(str(key)).resolve() for key in SharedSystemClient._identifier_to_system if key}
    if database.parent.resolve() in opened:
        return
    removed = remove_left_behind_lists(database)
    if removed:
        warnings.warn(f"engram removed {removed} list value{'' if removed == 1 else 's'} (such as tags) that Chroma had left behind "
                      f"in {database} when a collection was deleted; they would have attached to the next "
                      f"memories written (Chroma issue #7594). Memories written since then may already "
                      f"carry such values: check list-valued metadata written after a purge.",
                      UserWarning, stacklevel=4)


def http_client(url: str, timeout: float = DEFAULT_TIMEOUT, headers: dict[str, str] | None = None) -> Any:
    """A client for the Chroma server at ``url`` (``http://host:port``).

    The server is checked first with a bounded heartbeat, so a server that is
    down or hanging gives a :class:`StoreError` within ``timeout`` seconds
    instead of blocking (Chroma's own HTTP session has no timeout).
    """
    import chromadb
    import httpx
    from chromadb.config import Settings

    url = url.strip() if isinstance(url, str) else url
    # a space cannot be in a host name: "not a url" must not become a host to connect to
    parsed = (urlparse(url if "://" in url else f"http://{url}")
              if isinstance(url, str) and not any(c.isspace() for c in url) else None)
    if parsed is None or parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ConfigurationError(f"Chroma URL {url!r} is not http(s)://host:port, e.g. http://127.0.0.1:8000.")
    ssl = parsed.scheme == "https"
    port = parsed.port or (443 if ssl else 8000)
    base = f"{parsed.scheme}://{parsed.hostname}:{port}"
    try:
        response = httpx.get(f"{base}/api/v2/heartbeat", timeout=timeout, headers=headers)
        response.raise_for_status()
    except httpx.TimeoutException:
        raise StoreError(
            f"the Chroma server at {base} did not answer within {timeout:g}s. Check that it is "
            f"running and reachable (chroma run --path DIR --port {port})."
        ) from None
    except httpx.HTTPError as err:
        raise StoreError(
            f"cannot reach the Chroma server at {base} ({type(err).__name__}: {err}). Start it with "
            f"`chroma run --path DIR --host {parsed.hostname} --port {port}` or fix ENGRAM_CHROMA_URL."
        ) from None
    try:
        client = chromadb.HttpClient(
            host=parsed.hostname, port=port, ssl=ssl, headers=headers,
            settings=Settings(anonymized_telemetry=False),
        )
    except Exception as err:
        raise StoreError(f"cannot open a Chroma client for {base}: {err}") from err
    _bound_requests(client, timeout)
    return client


def _bound_requests(client: Any, timeout: float) -> None:
    """Give every later request a timeout too, so a server that dies mid-session cannot hang us."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        # reads may legitimately take longer than a heartbeat (big batches): allow 6x
        session.timeout = httpx.Timeout(timeout * 6, connect=timeout)
