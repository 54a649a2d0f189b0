import doctest
import hashlib

import numpy as np
import pytest

from engram.errors import ValidationError
from engram.optimizers import CandidateGate, FeedbackScorer, _scorer, pairwise_accuracy
from engram.prompts import Prompt
from engram.testing._scripted import scripted_lm
from engram.trajectories import Feedback, Trajectory


class HashEmbedder:
    """A deterministic stand-in embedder (no model): a unit vector seeded by the text's hash."""

    def __init__(self):
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        out = []
        for text in texts:
            rng = np.random.default_rng(int(hashlib.sha1(text.encode()).hexdigest()[:8], 16))
            v = rng.normal(size=16)
            out.append((v / np.linalg.norm(v)).tolist())
        return out


def _siblings(groups=30, seed=0):
    """Sibling replies where the detailed one (with steps) is preferred: a learnable, observable rule."""
    rng = np.random.default_rng(seed)
    items = []
    for g in range(groups):
        ask = [{"role": "user", "content": f"How do I do task {g}?"}]
        short = f"Try thing {g}."
        detailed = f"Here is how to do task {g}:\n1. Open the menu.\n2. Pick option {g}.\n3. Save." + " More." * int(rng.integers(0, 5))
        for rank, reply in enumerate([detailed, short] if rng.random() < 0.9 else [short, detailed]):
            items.append(Trajectory(messages=ask + [{"role": "assistant", "content": reply}], user=f"u{g}",
                                    thread=f"t{g}", feedback=Feedback(score=1.0 - rank, extra={"rank": rank})))
    return items


def test_fit_learns_an_observable_preference_and_reports_held_out_accuracy():
    scorer = FeedbackScorer(embedder=HashEmbedder(), components=4).fit(_siblings())
    report = scorer.report
    assert report.mode == "pairwise" and report.val_pairs > 0 and report.train_pairs >= 10
    assert report.pairwise_accuracy_val >= 0.75  # 90 % of the labels follow the rule
    assert scorer.score("How?", "Steps:\n1. a\n2. b\n3. c") > scorer.score("How?", "No.")
    assert 0.0 <= scorer.score("How?", "No.") <= 1.0


def test_pairwise_accuracy_gives_a_constant_judge_one_half():
    items = _siblings()
    assert pairwise_accuracy(lambda t: 0.5, items)[0] == 0.5
    accuracy, pairs = pairwise_accuracy(lambda t: len(t.messages[-1].content), items)
    assert pairs == 30 and accuracy > 0.8
    with pytest.raises(ValidationError, match="sibling"):
        pairwise_accuracy(lambda t: 0.5, items[:1])


def test_embeddings_are_computed_once_and_kept_on_disk(tmp_path):
    embedder = HashEmbedder()
    cache = tmp_path / "emb.npz"
    first = FeedbackScorer(embedder=embedder, cache_path=cache, components=2).fit(_siblings(8))
    calls = embedder.calls
    again = FeedbackScorer(embedder=embedder, cache_path=cache, components=2).fit(_siblings(8))
    assert cache.exists() and embedder.calls == calls  # every text came from the file
    assert first.report == again.report


def test_unfitted_and_bad_input_raise_clear_errors():
    with pytest.raises(ValidationError, match="not fitted"):
        FeedbackScorer(embedder=HashEmbedder()).score("a", "b")
    with pytest.raises(ValidationError, match="at least 4"):
        FeedbackScorer(embedder=HashEmbedder()).fit(_siblings(1))
    with pytest.raises(ValidationError, match="val_fraction"):
        FeedbackScorer(val_fraction=1.5)


def test_the_gate_can_score_with_the_learned_scorer():
    scorer = FeedbackScorer(embedder=HashEmbedder(), components=4).fit(_siblings())
    task = scripted_lm(lambda call: {"response": "Steps:\n1. Open it.\n2. Fix it.\n3. Done."
                                     if "steps" in call.inputs["system_prompt"] else "No."})
    held_out = [Trajectory(messages=[{"role": "user", "content": f"How do I fix thing {i}?"}]) for i in range(8)]
    decision = CandidateGate(task, scorer=scorer).compare(Prompt(name="p", template="Answer."),
                                                          Prompt(name="p", template="Answer in steps."), held_out)
    assert decision.accepted and decision.n == 8


@pytest.fixture
def oasst_subset(tmp_path, shared_data):
    from engram.loaders import load_oasst

    trees = (shared_data / "oasst_en_100_tree.jsonl").read_text().splitlines(keepends=True)
    path = tmp_path / "trees.jsonl"
    path.write_text("".join(trees[:40]))
    return load_oasst(path), tmp_path / "minilm.npz"


def test_on_real_votes_the_learned_scorer_beats_the_constant_judge(oasst_subset):
    data, cache = oasst_subset
    scorer = FeedbackScorer(cache_path=cache, components=8, val_fraction=0.4).fit(data)  # the bundled MiniLM
    assert scorer.report.val_pairs >= 30
    assert scorer.report.pairwise_accuracy_val > 0.5  # the constant judge's accuracy


def test_docstring_examples_run():
    assert doctest.testmod(_scorer).failed == 0




def test_identical_sibling_replies_rated_differently_do_not_silence_the_model():
    """Many users ask the same question and get the same reply under one prompt (logs, not sibling
    samples): their different ratings say nothing about the reply, so the model must learn from the
    scores across questions instead of from zero-difference pairs (it predicted a constant before)."""
    rng = np.random.default_rng(1)
    items = []
    for g in range(40):
        ask = [{"role": "user", "content": f"How do I do task {g}?"}]
        good = g % 2 == 0
        reply = (f"Steps for task {g}:\n1. Open the menu.\n2. Pick option {g}.\n3. Save." if good
                 else f"Try thing {g}.")
        for u in range(3):  # three users, one identical reply, ratings that differ by taste
            score = float(np.clip((0.8 if good else 0.3) + rng.normal(0, 0.15), 0, 1))
            items.append(Trajectory(messages=ask + [{"role": "assistant", "content": reply}], user=f"u{g}-{u}",
                                    thread=f"t{g}-{u}", feedback=Feedback(score=score)))
    scorer = FeedbackScorer(embedder=HashEmbedder(), components=4, val_fraction=0.0).fit(items)
    assert scorer.report.mode == "pointwise"
    assert scorer.score("How?", "Steps:\n1. a\n2. b\n3. c") > scorer.score("How?", "Try it.") + 0.05
