"""LoCoMo memory search: dense vs hybrid vs time-aware ranking over LoCoMo's observations.

LoCoMo ships, per session, "observations": short facts about each speaker written from
the conversation, each citing the turn it came from (e.g. "Caroline attended an LGBTQ
support group recently ..." -> D1:3). They stand in for memories an extractor would
write (a proxy: engram's own extractor is not run). Each observation is dated with its
session's date. A question is scored when at least one observation cites one of its
evidence turns; a hit is such an observation in the top k. No LM calls::

    python benchmarks/locomo_memories.py          # categories 1-4

Rankers (``MemoryRanker``: cosine + bounded bonuses, the scale ``min_score`` uses):
dense (cosine only, what ``search(ranking="dense")`` does), hybrid with a grid of
lexical weights, and the date / recency bonuses. Weights are chosen by
leave-one-conversation-out cross-validation (the honest figure) and shown in-sample too.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engram.loaders import load_locomo  # noqa: E402
from engram.store import get_embedder  # noqa: E402
from engram.store._archive._ranking import ArchiveIndex, MemoryRanker  # noqa: E402
from engram.store._archive._temporal import record_date  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo10.json"
GRID = {"lexical": [0.0, 0.1, 0.2, 0.3, 0.4, 0.6], "date": [0.0, 0.1, 0.2, 0.3, 0.5],
        "recency": [0.0, 0.05, 0.1]}
KS = (1, 5, 10)


def observations(sample: dict) -> list[tuple[str, set[str], str]]:
    """(text, cited turn ids, session date) per observation of one conversation."""
    out = []
    for name, by_speaker in sample.get("observation", {}).items():
        session = name.split("_")[1]
        when = sample["conversation"].get(f"session_{session}_date_time", "")
        for facts in by_speaker.values():
            for fact in facts:
                text, cites = fact[0], fact[1] if len(fact) > 1 else []
                cites = [cites] if isinstance(cites, str) else list(cites)
                ids = {c.strip() for cite in cites for c in str(cite).replace(";", ",").split(",") if c.strip()}
                out.append((text, ids, when))
    return out


def prepare(path: Path) -> list[dict]:
    embedder = get_embedder()
    raw = {s["sample_id"]: s for s in json.loads(path.read_text())}
    conversations = []
    for conv in load_locomo(path):
        obs = observations(raw[conv.sample_id])
        texts = [t for t, _, _ in obs]
        index = ArchiveIndex.build([str(i) for i in range(len(obs))], texts, embedder.embed(texts),
                                   [(0, 0, i) for i in range(len(obs))],
                                   dates=[record_date(w) for _, _, w in obs])
        asked = []
        for q in conv.questions:
            gold = np.array([bool(ids & set(q.evidence)) for _, ids, _ in obs])
            if q.category in (1, 2, 3, 4) and gold.any():
                asked.append((q, gold))
        vectors = embedder.embed([q.question for q, _ in asked])
        conversations.append({"id": conv.sample_id, "index": index, "questions": asked, "vectors": vectors,
                              "temporal": np.array([q.category == 2 for q, _ in asked])})
    return conversations


def hits(conv: dict, ranker: MemoryRanker) -> np.ndarray:
    out = np.zeros((len(conv["questions"]), len(KS)), dtype=bool)
    for i, ((q, gold), vector) in enumerate(zip(conv["questions"], conv["vectors"])):
        order = np.argsort(-ranker.scores(conv["index"], q.question, vector), kind="stable")
        out[i] = [gold[order[:k]].any() for k in KS]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    conversations = prepare(args.data)
    grid = [MemoryRanker(**dict(zip(GRID, values))) for values in itertools.product(*GRID.values())]
    table = [[hits(conv, r) for conv in conversations] for r in grid]
    folds = list(range(len(conversations)))
    n_obs = sum(len(c["index"]) for c in conversations)
    print(f"{n_obs} observations (memories) over {len(folds)} conversations; {len(grid)} weight settings")

    def recall10(members: list[int], convs: list[int]) -> list[float]:
        return [float(np.concatenate([table[r][c][:, 2] for c in convs]).mean()) for r in members]

    def cv(members: list[int], show: bool = False) -> np.ndarray:
        held = []
        for c in folds:
            train = [o for o in folds if o != c]
            scores = recall10(members, train)
            pick = members[int(np.argmax(scores))]
            if show:
                print(f"  held out {conversations[c]['id']}: {grid[pick]} -> @10 {table[pick][c][:, 2].mean():.3f}")
            held.append(table[pick][c])
        return np.concatenate(held)

    temporal = np.concatenate([c["temporal"] for c in conversations])

    def row(name: str, h: np.ndarray) -> None:
        print(f"{name:46} " + "  ".join(f"@{k} {h[:, j].mean():.3f}" for j, k in enumerate(KS))
              + f"   temporal (cat 2) @10 {h[temporal, 2].mean():.3f}")

    index_of = {(r.lexical, r.date, r.recency): i for i, r in enumerate(grid)}
    dense = index_of[(0.0, 0.0, 0.0)]
    no_time = [i for i, r in enumerate(grid) if r.date == 0 and r.recency == 0]
    print(f"\nrecall_any@k, categories 1-4, n={len(temporal)} (cat 2 n={int(temporal.sum())}):")
    row("dense (cosine)", np.concatenate(table[dense]))
    row("hybrid lexical, LOO-CV weight", cv(no_time))
    everything = cv(list(range(len(grid))), show=True)
    row("hybrid lexical + date + recency, LOO-CV", everything)
    default = MemoryRanker()
    row(f"engram default {default}", np.concatenate([hits(c, default) for c in conversations]))
    for lexical in GRID["lexical"][1:]:
        row(f"  lexical={lexical} (in-sample)", np.concatenate(table[index_of[(lexical, 0.0, 0.0)]]))
    base = default.lexical
    for d in GRID["date"][1:]:
        row(f"  lexical={base} date={d} recency=0.05 (in-sample)", np.concatenate(table[index_of[(base, d, 0.05)]]))
        row(f"  lexical={base} date={d} (in-sample)", np.concatenate(table[index_of[(base, d, 0.0)]]))
    for r in GRID["recency"][1:]:
        row(f"  lexical={base} recency={r} (in-sample)", np.concatenate(table[index_of[(base, 0.0, r)]]))


if __name__ == "__main__":
    main()
