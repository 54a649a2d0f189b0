"""MiniLM on ONNX Runtime: the same vectors as sentence-transformers, and no torch in a search-only process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"


@pytest.fixture(scope="module")
def onnx_home(tmp_path_factory):
    """An ENGRAM_HOME whose ONNX model was exported once (this step imports torch)."""
    from engram.store._onnx import cached_onnx_path, export_onnx

    home = tmp_path_factory.mktemp("engram-home")
    export_onnx(cached_onnx_path(home))
    return home


def _texts(n: int) -> list[str]:
    """Real chat turns (LoCoMo when present), plus edge cases: long, empty, non-Latin, punctuation."""
    texts: list[str] = []
    locomo = Path("/work/shared/data/locomo10.json")
    if locomo.exists():
        for conv in json.loads(locomo.read_text()):
            for key, session in conv["conversation"].items():
                if key.startswith("session_") and isinstance(session, list):
                    texts += [turn["text"] for turn in session if turn.get("text")]
    texts += [f"The user mentioned fact {i} about {w}." for i, w in enumerate(["tea", "Lyon", "jazz"] * 400)]
    edge = ["", " ", "a" * 3000, "東京に住んでいます", "¿Dónde está?", "!!!", "x" * 10 + " y" * 400, "😀 emoji"]
    return edge + texts[: n - len(edge)]


def test_onnx_vectors_match_sentence_transformers_on_1000_texts(onnx_home, embedder):
    from engram.store._onnx import OnnxMiniLM, cached_onnx_path

    texts = _texts(1000)
    assert len(texts) == 1000
    onnx = OnnxMiniLM(cached_onnx_path(onnx_home))
    ours = np.concatenate([onnx(texts[i : i + 64]) for i in range(0, len(texts), 64)])
    theirs = np.array(embedder.embed(texts))
    cosine = (ours * theirs).sum(axis=1)
    print(f"\nonnx vs sentence-transformers over {len(texts)} texts: min cosine {cosine.min():.6f}")
    assert cosine.min() >= 0.999


def test_search_only_process_on_onnx_never_imports_torch(onnx_home, tmp_path):
    from engram.store import MemoryStore
    from engram.store._embeddings import MiniLMEmbedder

    path = tmp_path / "db"
    with MemoryStore.persistent(path, embedder=MiniLMEmbedder(backend="onnx")) as store:
        store.put(("memories", "u1"), "city", "The user lives in Lyon")
        store.put(("memories", "u1"), "pet", "The user has a cat named Miso")
    script = textwrap.dedent(f"""
        import json, sys
        from engram.store import MemoryStore
        store = MemoryStore.persistent({str(path)!r})
        hit = store.search(("memories", "u1"), "where does the user live?")[0]
        heavy = [m for m in ("torch", "transformers", "sentence_transformers", "sklearn", "litellm")
                 if m in sys.modules]
        print(json.dumps({{"hit": hit.id, "heavy": heavy, "backend": store.embedder.backend}}))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "ENGRAM_HOME": str(onnx_home),
           "ENGRAM_EMBEDDER_BACKEND": "onnx"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env=env, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data == {"hit": "city", "heavy": [], "backend": "onnx"}


def test_unknown_backend_is_a_configuration_error(monkeypatch):
    import engram
    from engram.store._embeddings import MiniLMEmbedder

    monkeypatch.setenv("ENGRAM_EMBEDDER_BACKEND", "tensorflow")
    with pytest.raises(engram.ConfigurationError, match="ENGRAM_EMBEDDER_BACKEND"):
        MiniLMEmbedder()
