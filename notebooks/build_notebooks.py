"""Build the notebooks in this folder from the cell sources below (reviewable as plain Python).

    python notebooks/build_notebooks.py            # write the .ipynb files (no outputs)
    python notebooks/build_notebooks.py --execute  # also run them (offline) and keep the outputs

Every notebook runs offline with the simulated stand-in LM ``offline/support`` (not a
model) in a temporary ENGRAM_HOME; tests/notebooks executes each one with nbclient.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = '''\
import tempfile
from pathlib import Path

import engram

# Offline: the simulated support world stands in for every LM (it is not a model).
# For a real one: engram.configure(lm="openai/gpt-4o-mini") or ENGRAM_LM=...
WORKDIR = Path(tempfile.mkdtemp(prefix="engram-notebook-"))
engram.configure(lm="offline/support", home=WORKDIR)
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "datasets" / "support.jsonl").exists())
SUPPORT = ROOT / "datasets" / "support.jsonl"
print("working in", WORKDIR)'''

MEMORY = [
    new_markdown_cell("# Memory: extract, search, history\n\n"
                      "Turn support conversations into long-term memories in Chroma, search them, "
                      "and look at how a memory changed over time.\n\n"
                      "> Runs offline: the LM is the simulated stand-in `offline/support`, not a model."),
    new_code_cell(SETUP),
    new_markdown_cell("## The conversations\n64 support trajectories from 8 (simulated) customers, with feedback."),
    new_code_cell('''\
import pandas as pd
from engram.trajectories import TrajectoryDataset

data = TrajectoryDataset.load(SUPPORT)
frame = data.to_pandas()
frame[["id", "user", "thread", "feedback_score", "feedback_comment"]].head()'''),
    new_markdown_cell("## Extract\nOne namespace per customer: `(\"support\", \"{user_id}\")`. "
                      "`process` applies every trajectory once (re-running skips those already applied)."),
    new_code_cell('''\
from engram.lm import track_usage
from engram.store import MemoryStore
from engram.modules._manager import MemoryManager

store = MemoryStore.persistent(WORKDIR / "chroma")
manager = MemoryManager(store, ("support", "{user_id}"))
with track_usage() as usage:
    report = manager.process(data[:40], concurrency=2, progress=False)
print(report)
print(f"{usage.calls} LM calls, {usage.total_tokens} tokens (stand-in)")'''),
    new_code_cell('''\
def memories_table(store):
    rows = []
    for ns in store.list_namespaces(("support",)):
        if len(ns) != 2:            # the manager's ledger of applied trajectories is not a memory
            continue
        for record in store.list(ns, limit=100):
            rows.append({"user": ns[1], "key": record.id, "version": record.version, "memory": record.text,
                         "from": ", ".join(p.trajectory_id or "" for p in record.provenance)})
    return pd.DataFrame(rows)

memories = memories_table(store)
memories'''),
    new_code_cell('''\
import matplotlib.pyplot as plt

counts = memories.groupby("user").size()
ax = counts.plot.bar(color="#3366aa", figsize=(6, 3), title="Memories per customer")
ax.set_ylabel("memories")
plt.tight_layout()
plt.show()'''),
    new_markdown_cell("## Search\nBy meaning, within one customer's namespace (never across customers)."),
    new_code_cell('''\
user = memories["user"].iloc[0]
hits = store.search(("support", user), "what plan and product does this customer use?", limit=3)
pd.DataFrame([{"score": round(h.score, 3), "memory": h.text} for h in hits])'''),
    new_markdown_cell("## History\nThe rest of the conversations update what we know; every write keeps "
                      "the previous version."),
    new_code_cell('''\
report = manager.process(data, concurrency=2, progress=False)   # the first 40 are skipped
print(report)
memories = memories_table(store)
changed = memories.sort_values("version", ascending=False).iloc[0]
if changed["version"] == 1:
    # Nothing was revised by the conversations: correct one memory by hand to show the history.
    record = store.get(("support", changed["user"]), changed["key"])
    store.put(("support", changed["user"]), changed["key"], record.content, text=record.text + " (confirmed)")
history = store.history(("support", changed["user"]), changed["key"])
pd.DataFrame([{"version": r.version, "updated": r.updated_at, "memory": r.text} for r in history])'''),
]

PROMPTS = [
    new_markdown_cell("# Prompt optimization: optimize, compare, register, export\n\n"
                      "Learn a better support prompt from user feedback with three optimizers, check each "
                      "candidate on held-out conversations, then ship the winner through MLflow.\n\n"
                      "> Runs offline with the simulated stand-in `offline/support` (its users have hidden "
                      "preferences; scores are from the simulation, not a model). In this easy world every "
                      "optimizer reaches the oracle, so the figures below show that the plumbing works, "
                      "not how good an optimizer is: for that see `benchmarks/optimization_quality.py` "
                      "(a harder simulation, with feedback-ignoring baselines and intervals over seeds)."),
    new_code_cell(SETUP),
    new_code_cell('''\
import pandas as pd
from engram.prompts import Prompt
from engram.trajectories import TrajectoryDataset

data = TrajectoryDataset.load(SUPPORT)
train, held_out = data.split(0.25, seed=0)        # no customer on both sides
seed = Prompt(name="support", template="You are the support assistant for Acme. Answer the customer's question.")
pd.Series(data.stats()).to_frame("support.jsonl").T[["trajectories", "users", "feedback_mean", "with_comment"]]'''),
    new_markdown_cell("## Optimize\nEach optimizer proposes a prompt; the gate replays the held-out customers' "
                      "turns under the old and the new prompt and keeps the new one only if the paired interval of "
                      "the judge's gain is above zero."),
    new_code_cell('''\
from engram.optimizers import CandidateGate, create_prompt_optimizer

results = {}
for kind in ["gradient", "metaprompt", "prompt_memory"]:
    optimizer = create_prompt_optimizer(kind=kind, config={"gate": CandidateGate(max_trajectories=8)})
    results[kind] = optimizer(train, seed, validation=held_out)
comparison = pd.DataFrame([{"optimizer": kind, "before": r.score_before, "after": r.score_after,
                            "accepted": r.accepted, "calls": r.usage.calls, "tokens": r.usage.total_tokens}
                           for kind, r in results.items()])
comparison'''),
    new_code_cell('''\
import matplotlib.pyplot as plt

ax = comparison.set_index("optimizer")[["before", "after"]].plot.bar(
    figsize=(6, 3), color=["#999999", "#2e8b57"], title="Held-out judged score (simulation; a plumbing check)")
ax.set_ylim(0, 1.05)
plt.tight_layout()
plt.show()'''),
    new_markdown_cell("## Compare\nWhat the gradient optimizer changed, and why."),
    new_code_cell('''\
best = results["gradient"]
print(best.rationale)
print(best.diff)'''),
    new_markdown_cell("## Register and promote\nv1 is the seed, v2 the optimized prompt; the `production` alias moves to v2."),
    new_code_cell('''\
from engram.tracking._registry import PromptRegistry

registry = PromptRegistry()
v1 = registry.register("support", seed, "seed prompt")
v2 = registry.register("support", best.prompt, "gradient optimization",
                       tags={"optimizer": "gradient", "score_before": best.score_before,
                             "score_after": best.score_after, "dataset_hash": data.fingerprint})
registry.promote("support", v2.version, "production")
pd.DataFrame([{"version": v.version, "aliases": ", ".join(v.aliases), "message": v.commit_message,
               "score_after": v.tags.get("score_after")} for v in registry.history("support")])'''),
    new_markdown_cell("## Export and load in production"),
    new_code_cell('''\
from engram.tracking._export import export_prompt, write_export
from engram.tracking._loader import load_prompt

production = load_prompt("support@production")
print(export_prompt(production, "yaml"))
export_prompt(production, "openai")'''),
    new_code_cell('''\
path = write_export(production, WORKDIR / "export" / "support.json")
print("wrote", path)'''),
]

SWEEPS = [
    new_markdown_cell("# Sweeps: run, Pareto plot, pick, promote\n\n"
                      "Search the optimizer's settings with Optuna for the best held-out score per token, "
                      "then promote the prompt of the trial you pick.\n\n"
                      "> Runs offline with the simulated stand-in `offline/support`; keep `trials` small here."),
    new_code_cell(SETUP),
    new_code_cell('''\
from engram.runner import loads_config, run_sweep

config = loads_config(f"""
name: notebook-sweep
dataset:
  path: {SUPPORT}
  split: {{val_fraction: 0.25, seed: 0}}
lms: {{task: offline/support}}
prompt:
  prompt:
    name: support
    template: "You are the support assistant for Acme. Answer the customer's question."
  gate: {{max_trajectories: 6}}
tracking: {{experiment: notebook-sweep}}
output_dir: {WORKDIR / "sweep"}
sweep:
  trials: 6
  cost: tokens
  eval_steps: 2
  search_space:
    prompt.optimizer.kind: {{choices: [gradient, metaprompt, prompt_memory]}}
    prompt.optimizer.rounds: {{low: 1, high: 2}}
    prompt.optimizer.settings.max_tokens: {{choices: [200, 800, 1600]}}
""")
result = run_sweep(config, workers=1, progress=False)'''),
    new_markdown_cell("## All trials\nFor several processes on one study: `engram sweep CONFIG --workers 2` "
                      "(a PostgreSQL URL in `--storage` shares it across machines)."),
    new_code_cell('''\
result.trials.drop(columns=["template", "partial_scores"])'''),
    new_code_cell('''\
import matplotlib.pyplot as plt

done = result.trials[result.trials["state"] == "complete"]
fig, ax = plt.subplots(figsize=(6, 3.5))
for kind, group in done.groupby("prompt.optimizer.kind"):
    ax.scatter(group["cost"], group["score"], label=kind, s=60)
front = result.pareto.sort_values("cost")
ax.plot(front["cost"], front["score"], color="black", linestyle="--", label="Pareto front")
ax.set_xlabel("optimization cost (tokens)")
ax.set_ylabel("held-out score")
ax.set_title("Trials (simulation)")
ax.legend()
plt.tight_layout()
plt.show()'''),
    new_markdown_cell("Optuna's own Pareto-front plot, saved by the sweep next to `pareto.csv`:"),
    new_code_cell('''\
from IPython.display import Image

Image(filename=str(result.plot))'''),
    new_markdown_cell("## Pick\nThe best score within a token budget (here: the median trial cost)."),
    new_code_cell('''\
budget = float(done["cost"].median())
choice = result.pick(max_cost=budget) if (result.pareto["cost"] <= budget).any() else result.pick()
print(f"trial {choice['trial']}: score {choice['score']:.3f} for {choice['cost']:.0f} tokens")
print(choice["template"])'''),
    new_markdown_cell("## Promote"),
    new_code_cell('''\
from engram.tracking._loader import load_prompt
from engram.tracking._registry import PromptRegistry

registry = PromptRegistry()
version = registry.register("support", choice["template"], f"sweep {result.study_name} trial {choice['trial']}",
                            tags={"sweep": result.study_name, "trial": choice["trial"], "score": choice["score"]})
registry.promote("support", version.version, "production")
load_prompt("support@production").template'''),
]

NOTEBOOKS = {"memory.ipynb": MEMORY, "prompt_optimization.ipynb": PROMPTS, "sweeps.ipynb": SWEEPS}


def build(name: str) -> nbformat.NotebookNode:
    notebook = new_notebook(cells=NOTEBOOKS[name])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def execute(notebook: nbformat.NotebookNode, timeout: int = 900) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(HERE)}}).execute()
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true", help="run each notebook and keep its outputs")
    parser.add_argument("names", nargs="*", help="notebooks to build (default: all)")
    args = parser.parse_args(argv)
    for name in args.names or NOTEBOOKS:
        notebook = build(name)
        if args.execute:
            execute(notebook)
        nbformat.write(notebook, HERE / name)
        print("wrote", HERE / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
