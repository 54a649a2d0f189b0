"""The default embedder runs MiniLM on ONNX Runtime: same vectors as sentence-transformers, no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from engram.errors import ConfigurationError
from engram.store import MiniLMEmbedder, OnnxMiniLMEmbedder, export_onnx_model, get_embedder
from engram.store import _onnx as onnx_module

LOCOMO = Path(__file__).resolve().parents[3] / "shared" / "data" / "locomo10.json"
HEAVY = ("torch", "transformers", "sentence_transformers", "sklearn", "litellm")


def _texts(n: int = 300) -> list[str]:
    texts = ["", "a", "prefers dark mode", "Lives in Lyon, moved to Porto in 2023!",
             "word " * 400]  # empty, one letter, and one past the 256-token truncation
    # Varied memory-like sentences, so the bounds below are tested on real language even
    # where the LoCoMo file is not beside the checkout.
    subjects = ["The user", "Caroline", "My manager", "Our team", "Mel's daughter"]
    facts = ["is allergic to peanuts and avoids Thai food", "moved from Berlin to Lisbon last spring",
             "plays the cello in a community orchestra on Thursdays",
             "wants every answer as a short bulleted list", "is training for the Paris marathon",
             "asked about refund policies for a broken laptop twice this week",
             "prefers Python type hints and dislikes long functions"]
    texts += [f"{s} {f}." for s in subjects for f in facts]
    if LOCOMO.exists():
        for sample in json.loads(LOCOMO.read_text()):
            for key, turns in sample["conversation"].items():
                if key.startswith("session_") and isinstance(turns, list):
                    texts += [f"{t['speaker']}: {t['text']}" for t in turns]
    return texts[:n]


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray]:
    """The texts and their sentence-transformers (torch) vectors: computed once, compared twice."""
    texts = _texts()
    return texts, np.asarray(MiniLMEmbedder().embed(texts))


def test_default_embedder_is_onnx_and_matches_sentence_transformers(reference) -> None:
    onnx = get_embedder()
    assert isinstance(onnx, OnnxMiniLMEmbedder) and onnx.runtime == "onnxruntime"
    texts, b = reference
    a = np.asarray(onnx.embed(texts))
    assert a.shape == b.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() >= 0.999
    # batching and length-sorting must not change a text's vector
    single = np.asarray(onnx.embed([texts[7]]))[0]
    assert float(single @ a[7]) >= 0.9999


def test_a_process_that_only_embeds_imports_no_torch() -> None:
    export_onnx_model()  # cached by the test above or here; a fresh process must not export
    code = ("import sys\nfrom engram.store import get_embedder\n"
            "get_embedder()(['hello'])\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_falls_back_to_sentence_transformers_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def cannot_export(*args: object, **kwargs: object) -> Path:
        raise ConfigurationError("no torch here")

    monkeypatch.setattr(onnx_module, "export_onnx_model", cannot_export)
    embedder = OnnxMiniLMEmbedder()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vector = embedder.embed(["prefers dark mode"])[0]
    assert embedder.runtime == "sentence-transformers"
    assert any("sentence-transformers" in str(w.message) for w in caught)
    reference = MiniLMEmbedder().embed(["prefers dark mode"])[0]
    assert float(np.dot(vector, reference)) >= 0.9999


def test_export_is_atomic_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGRAM_MODEL_CACHE", str(tmp_path))
    path = export_onnx_model()
    assert path.parent == tmp_path and path.stat().st_size > 10_000_000
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no partial file left behind
    inode = path.stat().st_ino  # a redone export would replace the file: a new inode
    assert export_onnx_model() == path and path.stat().st_ino == inode  # reused, not redone


def _op_types(path: Path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}


def test_exported_graph_is_fused() -> None:
    # Unfused, the model runs at about half the speed with the same vectors: nothing else
    # would notice the fusion silently failing. The two fusions that ONNX Runtime runs more
    # slowly than the plain ops stay out.
    ops = _op_types(export_onnx_model())
    assert {"Attention", "EmbedLayerNormalization", "LayerNormalization", "Gelu"} <= ops
    assert not ops & {"SkipLayerNormalization", "BiasGelu"}


@pytest.mark.parametrize("int8", [False, True])
def test_the_session_does_not_redo_the_slower_fusions(tmp_path: Path, int8: bool) -> None:
    # ONNX Runtime's load-time optimizer fuses them back unless the session disables it:
    # check the graph it actually runs, saved from a session opened as the embedder opens it.
    runs = tmp_path / "optimized.onnx"
    onnx_module.open_session(export_onnx_model(int8=int8), 1, save_optimized_to=runs)
    ops = _op_types(runs)
    assert ("DynamicQuantizeMatMul" if int8 else "Attention") in ops
    assert not ops & {"SkipLayerNormalization", "BiasGelu"}


def test_int8_quantizes_the_fused_attention_and_stays_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           reference) -> None:
    fp32 = export_onnx_model()
    monkeypatch.setenv("ENGRAM_MODEL_CACHE", str(tmp_path))
    (tmp_path / fp32.name).write_bytes(fp32.read_bytes())  # reuse the export: no torch here
    stale = [tmp_path / f"{fp32.stem}-int8.onnx", tmp_path / "all-MiniLM-L6-v2-000000000000.onnx"]
    week_ago = time.time() - 8 * 24 * 3600
    for old in stale:  # an int8 file of an older recipe, an export of older weights; unused 8 days
        old.write_bytes(b"stale")
        os.utime(old, (week_ago, week_ago))
    in_use = tmp_path / "all-MiniLM-L6-v2-111111111111.onnx"  # another install's, opened today
    in_use.write_bytes(b"another install's model")

    path = export_onnx_model(int8=True)
    assert path == onnx_module.onnx_model_path(int8=True) and path.stat().st_size > 10_000_000
    assert not any(old.exists() for old in stale) and (tmp_path / fp32.name).exists()
    assert in_use.exists()  # removing it would make that install re-export on its next start
    assert {"QAttention", "MatMulInteger"} <= _op_types(path) and "Attention" not in _op_types(path)

    texts, b = reference
    a = np.asarray(OnnxMiniLMEmbedder(str(path), int8=True).embed(texts))
    cos = (a * b).sum(axis=1)
    # Worst measured: 0.969 over LoCoMo turns (0.978 over benchmarks/embedding.py's 1,000).
    assert cos.min() >= 0.95 and cos.mean() >= 0.985, (cos.min(), cos.mean())
    # Activations are quantized per batch, so unlike fp32 a text's int8 vector depends a
    # little on its batch mates (one reason int8 stays opt-in): close, not equal.
    alone = np.asarray(OnnxMiniLMEmbedder(str(path), int8=True).embed([texts[7]]))[0]
    assert 0.97 <= float(alone @ a[7]) <= 1.0 + 1e-6

    # A new int8 recipe gets a new file name: rebuilt; the old one goes once unused for a week.
    monkeypatch.setattr(onnx_module, "_QUANT_VERSION", "next")
    rebuilt = export_onnx_model(int8=True)
    assert rebuilt != path and rebuilt.exists() and path.exists()
    os.utime(path, (week_ago, week_ago))
    os.utime(in_use, (week_ago, week_ago))
    export_onnx_model(int8=True)  # reused: tidies nothing
    assert path.exists()
    monkeypatch.setattr(onnx_module, "_QUANT_VERSION", "after-next")
    newest = export_onnx_model(int8=True)
    assert {p.name for p in tmp_path.iterdir()} == {fp32.name, rebuilt.name, newest.name}
