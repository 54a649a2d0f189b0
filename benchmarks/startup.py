"""How long `import engram` takes, and which heavy packages it pulls in (target: under 1 s, none).

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


if __name__ == "__main__":
    main()
