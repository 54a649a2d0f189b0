"""Embedding throughput and fidelity: MiniLM on sentence-transformers, ONNX Runtime, int8 ONNX.

All three run in one process on the same texts (LoCoMo turns), so the ratios hold even
when the machine is busy; the absolute texts/s do not. Also prints flat-MiniLM LoCoMo
recall_any@k per runtime (1 vector per turn, the raw question as query, cosine top-k,
categories 1-4) to show the vectors' quality is unchanged::

    .venv/bin/python benchmarks/embedding.py            # throughput on 1,000 turns + recall
    .venv/bin/python benchmarks/embedding.py --no-recall
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from engram.store import MiniLMEmbedder, OnnxMiniLMEmbedder  # noqa: E402

LOCOMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo10.json"


def turns_and_questions() -> tuple[list[list[str]], list[list[tuple[str, set[int]]]]]:
    conversations, questions = [], []
    for sample in json.loads(LOCOMO.read_text()):
        texts, index = [], {}
        for key, turns in sample["conversation"].items():
            if key.startswith("session_") and isinstance(turns, list):
                for turn in turns:
                    index[turn["dia_id"]] = len(texts)
                    caption = f" [{turn['blip_caption']}]" if turn.get("blip_caption") else ""
                    texts.append(f"{turn['speaker']}: {turn['text']}{caption}")
        asked = []
        for qa in sample["qa"]:
            if qa.get("category") in (1, 2, 3, 4):
                gold = {index[e] for raw in qa.get("evidence", []) for e in str(raw).replace(";", " ").split()
                        if e in index}
                if gold:
                    asked.append((qa["question"], gold))
        conversations.append(texts)
        questions.append(asked)
    return conversations, questions


def throughput(embedder: object, texts: list[str], repeats: int = 2) -> tuple[float, np.ndarray]:
    embedder.embed(texts[:32])  # load and warm up outside the clock
    best, vectors = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        vectors = np.asarray(embedder.embed(texts))
        best = min(best, time.perf_counter() - start)
    return len(texts) / best, vectors


def recall(embedder: object, conversations: list, questions: list, ks=(1, 5, 10)) -> dict[int, float]:
    hits = {k: 0 for k in ks}
    total = 0
    for texts, asked in zip(conversations, questions):
        docs = np.asarray(embedder.embed(texts))
        queries = np.asarray(embedder.embed([q for q, _ in asked]))
        ranked = np.argsort(-(queries @ docs.T), axis=1)
        for (_, gold), order in zip(asked, ranked):
            for k in ks:
                hits[k] += bool(gold & set(order[:k].tolist()))
        total += len(asked)
    return {k: hits[k] / total for k in ks} | {"questions": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--no-recall", action="store_true")
    args = parser.parse_args()
    conversations, questions = turns_and_questions()
    texts = [t for conv in conversations for t in conv][: args.texts]
    runtimes = {"sentence-transformers (torch)": MiniLMEmbedder(), "ONNX Runtime fp32": OnnxMiniLMEmbedder(),
                "ONNX Runtime int8": OnnxMiniLMEmbedder(int8=True)}
    rates, vectors = {}, {}
    for name, embedder in runtimes.items():
        rates[name], vectors[name] = throughput(embedder, texts)
    base = "sentence-transformers (torch)"
    print(f"Embedding {len(texts)} LoCoMo turns, one process, best of 2 (machine load affects absolutes):")
    print(f"{'runtime':32} {'texts/s':>9} {'x torch':>8} {'min cos vs torch':>17}")
    for name in runtimes:
        cos = float((vectors[name] * vectors[base]).sum(axis=1).min())
        print(f"{name:32} {rates[name]:9.0f} {rates[name] / rates[base]:8.2f} {cos:17.5f}")
    if not args.no_recall:
        print("\nFlat MiniLM LoCoMo recall_any@k (categories 1-4; reference README figure @10 = 0.502):")
        for name, embedder in runtimes.items():
            r = recall(embedder, conversations, questions)
            print(f"{name:32} @1 {r[1]:.3f}  @5 {r[5]:.3f}  @10 {r[10]:.3f}  (n={r['questions']})")


if __name__ == "__main__":
    main()
