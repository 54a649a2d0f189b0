"""Cost of one memory update: engram's MemoryExtractor vs LangMem 0.0.30's memory manager.

Runs on the shared scenario (``../shared/bench/cost_scenario.json``): the same
conversation with 0 / 10 / 50 existing memories. Counts LM calls and prompt tokens
(cl100k via ``litellm.token_counter``, as the scenario's LangMem figures were counted).
The LM is an offline stand-in (``engram.testing.scripted_lm``) that answers with two
valid operations: the prompt is what is measured, not the answer's quality.

    python benchmarks/cost_memory.py            # prints a table and the ratios
    python benchmarks/cost_memory.py --no-store # without the store-backed line (no MiniLM load)

``main()`` returns the rows, so ``benchmarks/cost.py`` can include them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import engram  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)

SCENARIO = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "cost_scenario.json"
TARGET_RATIO = 0.5

_ANSWER = "\n".join(json.dumps(op) for op in (
    {"op": "insert", "content": "Moved to Lisbon for a job at a fintech startup",
     "quote": "I just moved to Lisbon for a new job at a fintech startup"},
    {"op": "insert", "content": "Vegetarian; prefers working from cafes",
     "quote": "I prefer working from cafes, and I'm vegetarian"},
))


def load_scenario(path: Path | str | None = None) -> dict[str, Any]:
    path = Path(path) if path else SCENARIO
    if not path.exists():
        raise SystemExit(f"cost scenario not found at {path}; pass its path as the first argument.")
    return json.loads(path.read_text())


def measure(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per memory case: engram's and LangMem's calls and prompt tokens, and the ratio."""
    import dspy

    from engram.lm import track_usage
    from engram.modules._extractor import MemoryExtractor
    from engram.testing._scripted import scripted_lm

    langmem = scenario["langmem_0_0_30"]["memory_manager"]
    rows = []
    for n in scenario["memory_cases"]:
        existing = [(m["id"], m["content"]) for m in scenario["existing_memories"][:n]]
        lm = scripted_lm({"ops": _ANSWER})
        with dspy.context(lm=lm), track_usage() as usage:
            pred = MemoryExtractor()(conversation=scenario["conversation"], memories=existing)
        assert len(pred.ops) == 2 and not pred.rejected, "the stand-in's answer should apply cleanly"
        theirs = langmem[f"existing={n}"]
        rows.append({
            "existing": n,
            "engram_calls": usage.calls,
            "engram_prompt_tokens": usage.prompt_tokens,
            "langmem_calls": theirs["calls"],
            "langmem_prompt_tokens": theirs["prompt_tokens"],
            "ratio": usage.prompt_tokens / theirs["prompt_tokens"],
        })
    return rows


def measure_manager(scenario: dict[str, Any]) -> dict[str, Any]:
    """The store-backed path: MemoryManager over an in-memory Chroma store holding the 50
    memories (MiniLM embeddings); it shows the ``search_limit`` (10) most relevant ones."""
    from engram.lm import track_usage
    from engram.store import MemoryStore
    from engram.modules._manager import MemoryManager
    from engram.testing._scripted import scripted_lm

    store = MemoryStore.in_memory()
    ns = ("bench", "u1")
    store.put_many(ns, [{"key": m["id"], "content": {"content": m["content"]}, "kind": "Memory",
                         "text": m["content"]} for m in scenario["existing_memories"]])
    manager = MemoryManager(store, ns, lm=scripted_lm({"ops": _ANSWER}))
    with track_usage() as usage:
        result = manager.update(scenario["conversation"])
    return {"stored": len(scenario["existing_memories"]), "calls": usage.calls,
            "prompt_tokens": usage.prompt_tokens, "written": len(result.written)}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    argv = sys.argv[1:] if argv is None else argv
    rows = measure(load_scenario(next((a for a in argv if not a.startswith("--")), None)))
    print("memory update (MemoryExtractor, default config) vs LangMem 0.0.30 create_memory_manager")
    print(f"{'existing':>8} {'engram calls':>12} {'engram tokens':>13} {'langmem calls':>13} "
          f"{'langmem tokens':>14} {'ratio':>6}")
    for r in rows:
        ok = "ok" if r["ratio"] <= TARGET_RATIO else "OVER TARGET"
        print(f"{r['existing']:>8} {r['engram_calls']:>12} {r['engram_prompt_tokens']:>13} "
              f"{r['langmem_calls']:>13} {r['langmem_prompt_tokens']:>14} {r['ratio']:>6.2f}  {ok}")
    print(f"target: ratio <= {TARGET_RATIO} (prompt tokens, cl100k); LM: offline stand-in (scripted)")
    if "--no-store" not in argv:
        m = measure_manager(load_scenario(next((a for a in argv if not a.startswith("--")), None)))
        print(f"store-backed MemoryManager, {m['stored']} memories stored (10 most relevant shown): "
              f"{m['calls']} call, {m['prompt_tokens']} prompt tokens, {m['written']} memories written")
    return rows


if __name__ == "__main__":
    main()
