"""Cold start: `import engram`, and a fresh process's first search on an existing store.

Row 1: how long `import engram` takes and which heavy packages it pulls in (target < 1 s,
none). Row 2: a fresh process opens `MemoryStore.persistent()` on a store written before
and runs its first `search` (query embedding included); target <= 1 s with none of torch,
transformers, sentence_transformers, sklearn or litellm imported::

    python benchmarks/startup.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

HEAVY = ["dspy", "litellm", "chromadb", "mlflow", "optuna", "torch", "sentence_transformers", "pandas"]
CODE = ("import time, sys, json; t = time.perf_counter(); import engram; "
        "dt = time.perf_counter() - t; "
        f"print(json.dumps({{'seconds': dt, 'modules': len(sys.modules), "
        f"'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))")


SEARCH_HEAVY = ["torch", "transformers", "sentence_transformers", "sklearn", "litellm", "dspy", "mlflow"]
SEARCH_CODE = ("import time, sys, json; t = time.perf_counter(); import engram; "
               "store = engram.MemoryStore.persistent(sys.argv[1]); opened = time.perf_counter(); "
               "hits = store.search(('bench', 'u1'), 'where does the user live?', limit=3); "
               "done = time.perf_counter(); "
               "print(json.dumps({'open': opened - t, 'total': done - t, 'hits': len(hits), "
               f"'heavy': [m for m in {SEARCH_HEAVY!r} if m in sys.modules]}}))")


def cold_search(runs: int) -> None:
    import tempfile

    import engram

    with tempfile.TemporaryDirectory() as home:
        path = f"{home}/chroma"
        store = engram.MemoryStore.persistent(path)
        store.put_many(("bench", "u1"), [{"key": f"fact-{i}", "content": f"The user mentioned fact {i}."}
                                         for i in range(300)] + [{"key": "city", "content": "Lives in Lyon."}])
        del store
        samples = [json.loads(subprocess.run([sys.executable, "-c", SEARCH_CODE, path], capture_output=True,
                                             text=True, check=True).stdout) for _ in range(runs)]
    total = statistics.median(s["total"] for s in samples)
    opened = statistics.median(s["open"] for s in samples)
    print(f"cold start to first search: median {total * 1000:.0f} ms over {runs} fresh processes "
          f"(import + open {opened * 1000:.0f} ms, first search {(total - opened) * 1000:.0f} ms); "
          f"target <= 1000 ms -> {total:.3f}x of budget")
    print(f"heavy packages imported by a searching process: {samples[0]['heavy'] or 'none'}; "
          f"hits returned: {samples[0]['hits']}")


def main(runs: int = 7) -> None:
    samples = [json.loads(subprocess.run([sys.executable, "-X", "frozen_modules=off", "-c", CODE],
                                         capture_output=True, text=True, check=True).stdout)
               for _ in range(runs)]
    seconds = [s["seconds"] for s in samples]
    median = statistics.median(seconds)
    print(f"import engram: median {median * 1000:.1f} ms over {runs} fresh interpreters "
          f"(min {min(seconds) * 1000:.1f}, max {max(seconds) * 1000:.1f}); target < 1000 ms "
          f"-> {median / 1.0:.3f}x of budget")
    print(f"modules loaded: {samples[0]['modules']}; heavy packages imported: {samples[0]['heavy'] or 'none'}")
    cold_search(max(3, runs // 2))


if __name__ == "__main__":
    main()
