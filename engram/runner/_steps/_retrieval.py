"""The retrieval step: archive LoCoMo conversations in the store and measure recall@k.

No LM calls: it measures the store's ranking for ``kind="message"`` (dense + BM25 +
neighbouring turns, see :class:`engram.store.HybridRanker`). Conversations are read by
:func:`engram.loaders.load_locomo`, indexed into a persistent store under the run
directory and scored with the one LoCoMo scorer (:func:`engram.loaders.locomo_scores`);
each finished conversation is checkpointed with its per-question scores, so a resumed run
neither re-indexes it (no turn written twice) nor re-asks its questions.
"""

from __future__ import annotations

from typing import Any

from engram.runner._steps._base import RetrievalOutput, StepContext, StepOutcome

STEP = "retrieval"


def run_retrieval_step(ctx: StepContext, lms: dict[str, Any]) -> StepOutcome:
    from engram.loaders import load_locomo, locomo_questions, locomo_scores, locomo_summary
    from engram.store import MemoryStore

    cfg = ctx.config.retrieval
    conversations = load_locomo(cfg.path)[: cfg.limit_conversations]
    store = MemoryStore.persistent(ctx.run_dir / "locomo-chroma")
    state = ctx.checkpoint.state(STEP)
    rows: list[dict[str, Any]] = list(state.get("rows", []))
    pending = ctx.checkpoint.pending(STEP, [c.sample_id for c in conversations])
    task = ctx.progress.task("LoCoMo conversations", total=len(conversations),
                             completed=len(conversations) - len(pending))
    depth = max(max(cfg.k), 10)  # NDCG@10 needs the top 10 whatever k is
    for conv in conversations:
        if conv.sample_id not in pending:
            continue
        namespace = ("locomo", conv.sample_id)
        if store.count(namespace, kind="message") < len(conv.turns):
            # A kill between indexing and checkpointing leaves a complete batch (put_many is
            # all-or-nothing) that is simply rewritten by key: same ids, no duplicates.
            store.put_many(namespace, conv.archive_items())
        with ctx.metered():
            for question, evidence in locomo_questions(conv):
                ranked = [r.id for r in store.search(namespace, question.question, kind="message", limit=depth)]
                rows.append({"category": question.category, **locomo_scores(ranked, evidence, cfg.k)})
        ctx.checkpoint.add_items(STEP, [conv.sample_id], state={"rows": rows})
        ctx.progress.advance(task)
    metrics = {key: round(value, 3) for key, value in locomo_summary(rows, cfg.k).items()}
    top = max(cfg.k)
    table = ctx.run_dir / "locomo_recall.md"
    table.write_text("| metric | value |\n|---|---|\n" + "".join(
        f"| {k} | {v} |\n" for k, v in metrics.items()), encoding="utf-8")
    headline = (f"recall_any@{top} = {metrics.get(f'recall_any@{top}')} over {metrics.get('questions')} "
                f"questions (categories 1-4)")
    return StepOutcome(metrics=metrics, output=RetrievalOutput(headline=headline, metrics=metrics),
                       artifacts=[table])
