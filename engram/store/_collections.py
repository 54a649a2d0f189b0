"""The Chroma side of the store: one collection per namespace, one history collection.

Why a collection per namespace: a ``where`` filter on a namespace field makes
Chroma pre-filter the metadata table and then search the allowed ids, which
took ~74 ms per query at 100k memories here. A query on the namespace's own
collection only touches that namespace's vectors, and tenants cannot leak into
each other's results whatever the filter says.

Collections are named ``engram-m-<sha256 of the namespace>`` and carry the
namespace in their metadata (``engram_ns``), which ``list_namespaces`` reads.
Superseded versions live in ``engram-history`` (one collection for all
namespaces; history reads are rare and filter by ``_ns`` and ``_key``). The
history collection's metadata also records the store's embedder spec, so a
store reopens with the embedder it was written with.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from engram.errors import ConfigurationError, EngramError, StoreError
from engram.store._embeddings import Embedder, EmbedderLike, get_embedder
from engram.store._host_lock import HostLock, lock_file
from engram.store._left_behind import delete_collection
from engram.store._namespaces import collection_name, namespace_key, parse_namespace_key

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

_T = TypeVar("_T")
PREFIX = "engram-"
HISTORY = "engram-history"
FORMAT = 1


@contextmanager
def chroma_errors(action: str) -> Iterator[None]:
    """Turn Chroma / transport exceptions into :class:`StoreError` naming the action."""
    try:
        yield
    except EngramError:
        raise
    except Exception as err:  # chromadb raises ValueError, ChromaError, httpx errors...
        raise StoreError(f"Chroma failed to {action}: {type(err).__name__}: {err}") from err


def page_size(client: Any) -> int:
    """Rows per call: at most what ``client``'s Chroma takes at once (1,000 if it cannot say)."""
    try:
        return max(1, min(5000, int(client.get_max_batch_size())))
    except Exception:
        return 1000


def dropped_elsewhere(err: BaseException) -> bool:
    """Whether ``err`` is Chroma saying a collection this store had cached no longer exists."""
    from chromadb.errors import NotFoundError as ChromaNotFound

    cause = err.__cause__ if isinstance(err, StoreError) else err
    return isinstance(cause, ChromaNotFound) and "ollection" in str(cause)


def survives_foreign_drops(method: Callable[..., _T]) -> Callable[..., _T]:
    """Run a store call again, with no collection cached, when another process deleted one.

    Store objects in one process learn of a purge through ``_SHARED_DROPS``; one in another
    process (two ``engram serve`` workers, or a script's ``purge`` beside the service, on one
    Chroma server) only finds out when Chroma refuses the collection it cached. A call fails
    on its first use of the stale collection, before writing to it (``import_``, which spans
    namespaces, undoes what it wrote; ``sweep`` only repeats what is already done), so it runs
    once more and finds the namespace as it now is: empty for a read, created anew for a write.
    """
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> _T:
        try:
            return method(self, *args, **kwargs)
        except StoreError as err:
            if not dropped_elsewhere(err):
                raise
            self._cols.forget_all()
            return method(self, *args, **kwargs)
    return call


# Locks and change counters are shared by every store object on the same data (same
# directory, server or in-memory database) in this process: two MemoryStore.persistent()
# objects on one path must not be able to interleave a read-check-write.
_SHARED_GUARD = threading.Lock()
_SHARED_LOCKS: dict[tuple[str, tuple[str, ...]], HostLock] = {}
_SHARED_GENERATIONS: dict[tuple[str, tuple[str, ...]], int] = {}
_SHARED_DROPS: dict[tuple[str, tuple[str, ...]], int] = {}   # bumped when a collection is deleted


def data_scope(client: Any) -> str:
    """An id for the data a client reaches: its directory, server URL or database."""
    settings = getattr(client, "get_settings", lambda: None)()
    database = getattr(client, "database", "")
    if settings is not None and getattr(settings, "is_persistent", False):
        from pathlib import Path

        return f"dir:{Path(str(settings.persist_directory)).resolve()}:{database}"
    if settings is not None and getattr(settings, "chroma_server_host", None):
        return f"http:{settings.chroma_server_host}:{settings.chroma_server_http_port}:{database}"
    return f"mem:{database}:{id(client) if not database.startswith('engram_') else ''}"


class Collections:
    """Namespace -> Chroma collection, with caching and per-namespace write locks."""

    def __init__(self, client: ClientAPI, embedder: EmbedderLike = None) -> None:
        from engram.store._chroma_ef import chroma_function  # imports chromadb; registers "engram"

        self.client = client
        self._cache: dict[tuple[str, ...], tuple[Collection, int]] = {}
        self.scope = data_scope(client)
        self._guard = threading.Lock()
        self.closed = False
        self._closers: list[Callable[[], None]] = []
        with chroma_errors("open the history collection"):
            self.history = client.get_or_create_collection(
                HISTORY, metadata={"engram_format": FORMAT}, embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
            )
        self.embedder = self._resolve_embedder(embedder)
        self._ef = chroma_function(self.embedder)

    def _resolve_embedder(self, requested: EmbedderLike) -> Embedder:
        stored = (self.history.metadata or {}).get("engram_embedder")
        if requested is None and stored and not stored.startswith("chroma-object:"):
            return get_embedder(stored)  # reopen with the embedder the data was written with
        embedder = get_embedder(requested)
        if stored and stored != embedder.spec:
            raise ConfigurationError(
                f"this store was written with embedder {stored!r} but {embedder.spec!r} was "
                f"requested; vectors from different models cannot be compared. Open it with "
                f"embedder={stored!r} or use a new store path."
            )
        if not stored:
            with chroma_errors("record the store's embedder"):
                meta = {**(self.history.metadata or {}), "engram_embedder": embedder.spec}
                self.history.modify(metadata=meta)
        return embedder

    def lock(self, namespace: tuple[str, ...]) -> HostLock:
        """The write lock of a namespace: read-check-write sequences hold it. On a Chroma server,
        other processes of this machine take turns on it too (:mod:`engram.store._host_lock`)."""
        key = (self.scope, namespace)
        with _SHARED_GUARD:
            found = _SHARED_LOCKS.get(key)
            if found is None:
                shared = self.scope.startswith("http:")  # a directory has one owner process
                found = _SHARED_LOCKS[key] = HostLock(lock_file(self.scope, namespace) if shared else None)
            return found

    def touch(self, namespace: tuple[str, ...]) -> None:
        """Record that a namespace changed (invalidates caches such as the archive index)."""
        key = (self.scope, namespace)
        with _SHARED_GUARD:
            _SHARED_GENERATIONS[key] = _SHARED_GENERATIONS.get(key, 0) + 1

    def generation(self, namespace: tuple[str, ...]) -> int:
        return _SHARED_GENERATIONS.get((self.scope, namespace), 0)

    def create(self, namespace: tuple[str, ...]) -> Collection:
        """The namespace's collection, created if missing."""
        col = self.get(namespace, create=True)
        assert col is not None  # get(create=True) creates or raises
        return col

    def get(self, namespace: tuple[str, ...], create: bool = False) -> Collection | None:
        """The namespace's collection; ``None`` if it does not exist and ``create`` is false."""
        if self.closed:
            raise StoreError("this MemoryStore was closed; open a new one (e.g. MemoryStore.from_settings()).")
        drops = _SHARED_DROPS.get((self.scope, namespace), 0)
        cached = self._cache.get(namespace)
        if cached is not None and cached[1] == drops:
            return cached[0]  # (a store object on the same data may have dropped it since)
        name = collection_name(PREFIX, namespace)
        # No lock around Chroma: get_or_create is idempotent, and one lock for every namespace
        # made the first writes of 32 concurrent namespaces wait in line (82 ms each, measured).
        col: Collection | None
        with chroma_errors(f"open the collection of namespace {namespace!r}"):
            if create:
                col = self.client.get_or_create_collection(
                    name, metadata={"engram_ns": namespace_key(namespace), "engram_format": FORMAT},
                    embedding_function=self._ef, configuration={"hnsw": {"space": "cosine"}},
                )
            else:
                col = self.existing(name, self._ef)
        if col is not None:
            with self._guard:
                self._cache[namespace] = (col, drops)
        return col

    def existing(self, name: str, embedding_function: Any = None) -> Collection | None:
        """The collection called ``name``, or None if there is none."""
        from chromadb.errors import NotFoundError as ChromaNotFound

        try:
            return self.client.get_collection(name, embedding_function=embedding_function)
        except (ChromaNotFound, ValueError) as err:
            if "does not exist" in str(err) or isinstance(err, ChromaNotFound):
                return None
            raise

    def forget(self, namespace: tuple[str, ...]) -> None:
        with self._guard:
            self._cache.pop(namespace, None)

    def forget_all(self) -> None:
        """Drop every cached collection; each is looked up again on its next use."""
        with self._guard:
            self._cache.clear()

    def on_close(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` when the store closes (e.g. to close a file it opened beside Chroma)."""
        self._closers.append(fn)

    def close(self) -> None:
        with self._guard:
            self._cache.clear()
            self.closed = True
            closers, self._closers = self._closers, []
        for fn in closers:
            fn()

    def drop(self, namespace: tuple[str, ...]) -> None:
        """Delete the namespace's collection (used by ``purge(namespace)``)."""
        name = collection_name(PREFIX, namespace)
        self.forget(namespace)
        col = self.existing(name, self._ef)
        if col is not None:
            with chroma_errors(f"delete the collection of namespace {namespace!r}"):
                delete_collection(self.client, col, page_size(self.client))
        key = (self.scope, namespace)
        with _SHARED_GUARD:
            _SHARED_DROPS[key] = _SHARED_DROPS.get(key, 0) + 1

    def namespaces(self) -> list[tuple[str, ...]]:
        """Every namespace with a collection, read from collection metadata."""
        out: list[tuple[str, ...]] = []
        collections: list[Collection] = []
        page = 1000
        with chroma_errors("list collections"):
            while True:  # page explicitly: a server may cap one listing
                batch = self.client.list_collections(limit=page, offset=len(collections))
                collections.extend(batch)
                if len(batch) < page:
                    break
        for col in collections:
            meta = col.metadata or {}
            if col.name.startswith(PREFIX + "m-") and "engram_ns" in meta:
                out.append(parse_namespace_key(meta["engram_ns"]))
        return sorted(out)
