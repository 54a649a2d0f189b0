"""Cost of one prompt optimization: engram's optimizers vs LangMem 0.0.30's, on the shared scenario.

Runs on ``../shared/bench/cost_scenario.json``: the prompt "You are a helpful assistant." and
5 trajectories (3 x "too long", 2 x "good"). Counts LM calls and prompt tokens (cl100k via
``litellm.token_counter``, as the scenario's LangMem figures were counted) with
``engram.lm.track_usage``. Each optimizer runs with its default config.

The LM is an offline stand-in (``engram.testing.scripted_lm``) that answers every step as a
real model would on this data: the critique warrants an edit (so the gradient optimizer
pays for its apply step too), the writers return the prompt plus one sentence. The prompts
are what is measured, not the answers' quality.

    python benchmarks/cost.py            # prompt optimizers, then the memory half (cost_memory.py)

Targets (issue 5): gradient <= 3 calls and <= 0.5x LangMem's prompt tokens; metaprompt <= 2
calls and <= 0.5x; prompt_memory 1 call.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import engram  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)

SCENARIO = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "cost_scenario.json"
TARGETS = {"gradient": (3, 0.5), "metaprompt": (2, 0.5), "prompt_memory": (1, None)}
BETTER = "You are a helpful assistant. Keep replies to one or two short sentences."


def load_scenario(path: Path | str | None = None) -> dict[str, Any]:
    path = Path(path) if path else SCENARIO
    if not path.exists():
        raise SystemExit(f"cost scenario not found at {path}; pass its path as the first argument.")
    return json.loads(path.read_text())


def _stand_in():
    from engram.testing._scripted import scripted_lm

    def answer(call):
        fields = call.output_fields
        if "recommendations" in fields:
            return {"reasoning": "Three of five users said the replies were too long; two liked them.",
                    "failure_modes": ["Replies are longer than users want"],
                    "hypotheses": ["The prompt sets no length limit"],
                    "recommendations": ["Keep replies to one or two short sentences."], "edit_warranted": True}
        if "improved_prompt" in fields:
            return {"reasoning": "Users complain about length; add a length rule.", "improved_prompt": BETTER}
        return {"updated_prompt": BETTER}

    return scripted_lm(answer, name="offline/cost-stand-in")


def _distinct(scenario: dict[str, Any]) -> list[tuple[list[dict[str, str]], dict[str, Any]]]:
    """The scenario's trajectories made pairwise different (a session tag on the first message)."""
    out = []
    for k, t in enumerate(scenario["trajectories"]):
        messages = [dict(m) for m in t["messages"]]
        messages[0]["content"] += f" (session {k + 1})"
        out.append((messages, t["feedback"]))
    return out


def measure(scenario: dict[str, Any], *, distinct: bool = False) -> list[dict[str, Any]]:
    """One row per optimizer kind: engram's and LangMem's calls and prompt tokens, and the ratio.

    The scenario's 5 trajectories are one conversation repeated, which engram shows once;
    ``distinct=True`` makes them differ so that saving is not counted.
    """
    from engram.optimizers._factory import create_prompt_optimizer

    if distinct:
        trajectories = _distinct(scenario)
    else:
        trajectories = [(t["messages"], t["feedback"]) for t in scenario["trajectories"]]
    theirs_all = scenario["langmem_0_0_30"]["prompt_optimizer"]
    rows = []
    for kind in ("gradient", "metaprompt", "prompt_memory"):
        result = create_prompt_optimizer(_stand_in(), kind=kind)(trajectories, scenario["prompt"])
        assert result.improved and not result.errors, f"{kind}: the stand-in's answer should apply cleanly"
        theirs = theirs_all[kind]
        rows.append({"kind": kind, "engram_calls": result.usage.calls,
                     "engram_prompt_tokens": result.usage.prompt_tokens,
                     "langmem_calls": theirs["calls"], "langmem_prompt_tokens": theirs["prompt_tokens"],
                     "call_ratio": result.usage.calls / theirs["calls"],
                     "token_ratio": result.usage.prompt_tokens / theirs["prompt_tokens"]})
    return rows


def _verdict(row: dict[str, Any]) -> str:
    max_calls, max_ratio = TARGETS[row["kind"]]
    ok = row["engram_calls"] <= max_calls and (max_ratio is None or row["token_ratio"] <= max_ratio)
    return "ok" if ok else "OVER TARGET"


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    argv = sys.argv[1:] if argv is None else argv
    scenario = load_scenario(argv[0] if argv else None)
    rows = measure(scenario)
    titles = {False: "the scenario as given (5 copies of one conversation; engram shows it once)",
              True: "the 5 conversations made distinct (no saving from repeats)"}
    print("prompt optimization (default config) vs LangMem 0.0.30 create_prompt_optimizer, 5 trajectories")
    for distinct, table in ((False, rows), (True, measure(scenario, distinct=True))):
        print(f"-- {titles[distinct]}")
        print(f"{'kind':>14} {'engram calls':>12} {'engram tokens':>13} {'langmem calls':>13} "
              f"{'langmem tokens':>14} {'calls x':>8} {'tokens x':>8}")
        for r in table:
            print(f"{r['kind']:>14} {r['engram_calls']:>12} {r['engram_prompt_tokens']:>13} "
                  f"{r['langmem_calls']:>13} {r['langmem_prompt_tokens']:>14} {r['call_ratio']:>8.2f} "
                  f"{r['token_ratio']:>8.2f}  {_verdict(r)}")
    print("targets: gradient <= 3 calls & <= 0.5x tokens; metaprompt <= 2 calls & <= 0.5x; prompt_memory 1 call")
    print("tokens: prompt tokens, cl100k (litellm.token_counter); LM: offline stand-in (scripted), not a model")
    memory = Path(__file__).with_name("cost_memory.py")
    if memory.exists():  # the memory half, written alongside
        print()
        spec = importlib.util.spec_from_file_location("cost_memory", memory)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.main(argv)
    return rows


if __name__ == "__main__":
    main()
