"""compile_extractor on a paraphrased extraction set the extractor stand-in was not written for.

The old world's extractor stand-in (``offline/support``, ``engram.testing._sim_memory``) reads
facts with regexes written for the world's own sentences ("Hi, I'm Maya from Lisbon.").
``tests/data/extraction_paraphrased.jsonl`` says the same kinds of facts in other words
("Name's Kofi, I'm based out of Accra"). This prints memory F1 (MiniLM matching, the
library's metric) before and after each compile route, on a held-out half of the set:
a SIMULATION with a stand-in, not an LLM; it shows whether a route changes anything.

    python benchmarks/extraction_paraphrased.py
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import pathlib
import sys
import time
from collections.abc import Iterator
from typing import Any

import engram  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data" / "extraction_paraphrased.jsonl"


def run() -> dict[str, Any]:
    import dspy

    from engram.modules import MemoryExtractor, compile_extractor, memory_examples, memory_f1
    from engram.testing import simulated_lm

    items = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    examples = memory_examples(items)
    train, test = examples[::2], examples[1::2]
    lm = simulated_lm(seed=0)

    def f1(program: Any) -> float:
        with dspy.context(lm=lm):
            return sum(float(memory_f1(e, program(**e.inputs()))) for e in test) / len(test)

    out = {"uncompiled": {"f1": f1(MemoryExtractor()), "calls": 0, "seconds": 0.0}}
    settings = {"bootstrap": {"max_bootstrapped_demos": 2},
                "mipro": {"num_trials": 3, "num_candidates": 2},
                "gepa": {"max_metric_calls": 30}}
    for route, extra in settings.items():
        before, start = lm.engine.calls, time.time()
        try:
            compiled = compile_extractor(train, optimizer=route, lm=lm, reflection_lm=lm, valset=test if route != "bootstrap" else None, **extra)
            out[route] = {"f1": f1(compiled), "calls": lm.engine.calls - before, "seconds": time.time() - start}
        except Exception as err:  # noqa: BLE001  (report a failing route, keep measuring the others)
            out[route] = {"error": f"{type(err).__name__}: {err}"}
    return {"train": len(train), "test": len(test), "routes": out}


class _Distinct(logging.Handler):
    """Counts each distinct warning instead of printing it where it happens (the optimizers
    repeat theirs once per trial)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.seen[f"{record.name}: {record.getMessage().splitlines()[0][:200]}"] += 1


@contextlib.contextmanager
def _warnings_counted() -> Iterator[_Distinct]:
    # DSPy's logger does not propagate to the root, so both get the counter for the run.
    collector, saved = _Distinct(), {}
    for name in ("", "dspy"):
        logger = logging.getLogger(name)
        saved[name] = logger.handlers[:]
        logger.handlers[:] = [collector]
    try:
        yield collector
    finally:
        for name, handlers in saved.items():
            logging.getLogger(name).handlers[:] = handlers


def main() -> dict[str, Any]:
    with contextlib.redirect_stdout(sys.stderr), _warnings_counted() as warned:
        result = run()
    print(f"SIMULATION: extractor stand-in (offline/support) on {result['test']} held-out paraphrased "
          f"conversations ({result['train']} to compile on); memory F1 by MiniLM matching")
    for route, r in result["routes"].items():
        if "error" in r:
            print(f"{route:>11}: failed: {r['error']}")
        else:
            print(f"{route:>11}: F1 {r['f1']:.3f}  (LM calls {r['calls']}, {r['seconds']:.1f}s)")
    if warned.seen:  # the stand-in's limits, shown once each: a user running this would want to see them
        print("warnings logged during the run (count, logger: first line):")
        for message, count in warned.seen.most_common():
            print(f"  {count:>4} x {message}")
    result["warnings"] = dict(warned.seen)
    return result


if __name__ == "__main__":
    main()
