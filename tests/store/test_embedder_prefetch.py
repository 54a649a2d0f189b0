"""A store opening starts loading its embedder in the background (a faster cold start).

The ONNX session is built in a daemon thread while the caller imports chromadb; the first
embed then finds it ready. These tests check what the thread does and does not do, not
how fast it is (``benchmarks/startup.py`` measures that).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import engram.store._embeddings as embeddings_module
from engram.store import Embedder, MemoryStore, OnnxMiniLMEmbedder, export_onnx_model

THREAD = "engram-embedder-prefetch"


class Constant(Embedder):
    spec = "test-constant"

    def _embed(self, texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0, 0.0] for _ in texts]


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD]


def _join_prefetch() -> None:
    for thread in _prefetch_threads():
        thread.join(timeout=60)


@pytest.fixture()
def exported_model() -> Path:
    return export_onnx_model()  # cached by make setup; a no-op then


def test_prefetch_loads_the_session_before_the_first_embed(exported_model: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real = embeddings_module.OnnxMiniLMEmbedder._load

    def counting_load(self: OnnxMiniLMEmbedder) -> object:
        built.append(threading.current_thread().name)
        return real(self)

    monkeypatch.setattr(embeddings_module.OnnxMiniLMEmbedder, "_load", counting_load)
    embedder = OnnxMiniLMEmbedder(str(exported_model))
    embedder.prefetch()
    embedder.prefetch()  # a second call starts nothing new
    _join_prefetch()
    assert built == [THREAD]
    assert len(embedder.embed(["prefers dark mode"])[0]) == 384
    assert built[0] == THREAD and embedder.runtime == "onnxruntime"


def test_no_prefetch_when_the_model_is_not_exported_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A first-ever export imports torch; racing that against the caller's imports is unsafe.
    monkeypatch.setenv("ENGRAM_MODEL_CACHE", str(tmp_path))
    before = len(_prefetch_threads())
    OnnxMiniLMEmbedder().prefetch()
    assert len(_prefetch_threads()) == before
    assert not list(tmp_path.iterdir())  # and it exported nothing


def test_a_load_failure_in_the_thread_is_raised_by_the_first_embed(exported_model: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import engram.store._onnx as onnx_module

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("corrupt model file")

    monkeypatch.setattr(onnx_module, "MiniLMOnnxRuntime", broken)
    embedder = OnnxMiniLMEmbedder(str(exported_model))
    embedder.prefetch()
    _join_prefetch()
    with pytest.raises(RuntimeError, match="corrupt model file"):
        embedder.embed(["hello"])


def test_a_persistent_store_prefetches_its_default_embedder(exported_model: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    monkeypatch.setattr(embeddings_module.OnnxMiniLMEmbedder, "prefetch",
                        lambda self: started.append(self.spec))
    store = MemoryStore.persistent(tmp_path / "chroma", embedder="all-MiniLM-L6-v2")
    assert started == ["all-MiniLM-L6-v2"]
    store.close()
    # An embedder with nothing to load is left alone.
    MemoryStore.persistent(tmp_path / "other", embedder=Constant()).close()
    assert started == ["all-MiniLM-L6-v2"]


class Counting(Embedder):
    spec = "test-counting"
    microbatch = True  # the path local models take, with its cache of recent vectors

    def __init__(self) -> None:
        self.seen: list[str] = []

    def _embed(self, texts: list[str]) -> list[list[float]]:
        self.seen += texts
        return [[float(len(t)), 1.0, 0.0] for t in texts]


def test_clear_cache_makes_the_next_embed_run_the_model() -> None:
    embedder = Counting()
    first = embedder.embed(["prefers dark mode"])
    assert embedder.embed(["prefers dark mode"]) == first and embedder.seen == ["prefers dark mode"]
    embedder.clear_cache()
    assert embedder.embed(["prefers dark mode"]) == first
    assert embedder.seen == ["prefers dark mode", "prefers dark mode"]
