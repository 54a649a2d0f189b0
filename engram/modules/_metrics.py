"""memory_f1: how well extracted memories match the expected ones, by meaning.

Each predicted memory is matched to at most one expected memory (greedily, most similar
pair first) when their embeddings' cosine similarity reaches ``threshold``; the score is
the F1 of precision (matched / predicted) and recall (matched / expected). Nothing
expected and nothing predicted scores 1.0.

    memory_f1(dspy.Example(expected_memories=["Lives in Lisbon"]), pred)        # 0.0 .. 1.0
    metric = MemoryF1(threshold=0.75, embedder="all-MiniLM-L6-v2")             # configurable
    metric(gold, pred, None, "extract", None)  # GEPA form: Prediction(score, feedback)

Works as a metric for ``dspy.Evaluate``, BootstrapFewShot, MIPROv2 and GEPA.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import dspy

from engram.modules._schemas import content_text

if TYPE_CHECKING:
    from engram.store import Embedder


def _texts(items: Iterable[object] | str | None) -> list[str]:
    if items is None:
        return []
    if isinstance(items, str):
        return [items] if items.strip() else []
    out = []
    for item in items:
        if hasattr(item, "text") and not isinstance(item, str):
            out.append(str(item.text))
        elif isinstance(item, dict) and set(item) >= {"content"} and len(item) <= 3:
            out.append(content_text(item["content"]))
        else:
            out.append(content_text(item))
    return [t for t in out if t.strip()]


def expected_of(example: dspy.Example | Mapping[str, Any]) -> list[str]:
    for name in ("expected_memories", "memories_expected", "expected"):
        value = example.get(name) if hasattr(example, "get") else getattr(example, name, None)
        if value is not None:
            return _texts(value)
    raise KeyError("the example has no 'expected_memories' label; build examples with memory_examples().")


class MemoryF1:
    """The memory F1 metric with its settings (``threshold``, ``embedder``); caches embeddings."""

    def __init__(self, threshold: float = 0.7,
                 embedder: Embedder | str | Callable[[list[str]], list[list[float]]] | None = None):
        self.threshold = threshold
        self._embedder_spec = embedder
        self._embedder: Embedder | None = None
        self._cache: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _vectors(self, texts: list[str]) -> list[list[float]]:
        from engram.store import get_embedder

        with self._lock:
            if self._embedder is None:
                self._embedder = get_embedder(self._embedder_spec)
            todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if todo:
                self._cache.update(zip(todo, self._embedder.embed(todo)))
            return [self._cache[t] for t in texts]

    def match(self, predicted: list[str], expected: list[str]) -> list[tuple[int, int, float]]:
        """Greedy one-to-one matches (predicted index, expected index, similarity) above threshold."""
        if not predicted or not expected:
            return []
        vectors = self._vectors(predicted + expected)
        p_vecs, e_vecs = vectors[: len(predicted)], vectors[len(predicted):]
        pairs = sorted(((sum(a * b for a, b in zip(p, e)), i, j)
                        for i, p in enumerate(p_vecs) for j, e in enumerate(e_vecs)), reverse=True)
        used_p, used_e, out = set(), set(), []
        for sim, i, j in pairs:
            if sim < self.threshold:
                break
            if i not in used_p and j not in used_e:
                used_p.add(i)
                used_e.add(j)
                out.append((i, j, sim))
        return out

    def score(self, predicted: list[str], expected: list[str]) -> float:
        if not predicted and not expected:
            return 1.0
        matched = len(self.match(predicted, expected))
        if matched == 0:
            return 0.0
        precision, recall = matched / len(predicted), matched / len(expected)
        return 2 * precision * recall / (precision + recall)

    def feedback(self, predicted: list[str], expected: list[str]) -> str:
        matches = self.match(predicted, expected)
        missed = [expected[j] for j in range(len(expected)) if j not in {m[1] for m in matches}]
        extra = [predicted[i] for i in range(len(predicted)) if i not in {m[0] for m in matches}]
        parts = [f"Matched {len(matches)} of {len(expected)} expected memories."]
        if missed:
            parts.append("Missed: " + "; ".join(missed) + ".")
        if extra:
            parts.append("Not expected: " + "; ".join(extra) + ".")
        return " ".join(parts)

    def __call__(self, gold: dspy.Example, pred: dspy.Prediction, trace: object = None, pred_name: str | None = None,
                 pred_trace: object = None) -> float | bool | dspy.Prediction:
        predicted = _texts(getattr(pred, "memories", None))
        expected = expected_of(gold)
        value = self.score(predicted, expected)
        if pred_name is not None or pred_trace is not None:  # GEPA asks for feedback
            return dspy.Prediction(score=value, feedback=self.feedback(predicted, expected))
        if trace is not None:  # bootstrapping: keep only demos that got everything right
            return value >= 1.0
        return value


_default: MemoryF1 | None = None


def memory_f1(gold: dspy.Example, pred: dspy.Prediction, trace: object = None, pred_name: str | None = None,
              pred_trace: object = None) -> float | bool | dspy.Prediction:
    """F1 of extracted vs expected memories, matched by embedding similarity (threshold 0.7,
    the configured embedder). See :class:`MemoryF1` to change either."""
    global _default
    if _default is None:
        _default = MemoryF1()
    return _default(gold, pred, trace, pred_name, pred_trace)


__all__ = ["MemoryF1", "expected_of", "memory_f1"]
