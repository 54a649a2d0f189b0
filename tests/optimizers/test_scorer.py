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


def _pairs_where(prefer_list: bool, groups: int = 40, seed: int = 2):
    """Sibling replies, one listed and one in prose; ``prefer_list``: the listed one wins, else the longer one.

    The listed reply is the longer one in half the groups, so with ``prefer_list`` the length says nothing.
    """
    rng = np.random.default_rng(seed)
    items = []
    for g in range(groups):
        ask = [{"role": "user", "content": f"What should I pack for trip {g}?"}]
        listed = f"Pack:\n- shoes\n- map {g}" + (" and more" * 12 if g % 2 else "")
        prose = f"For trip {g} take shoes, a map and" + " more things" * int(rng.integers(3, 6)) + "."
        if prefer_list:
            ranked = [listed, prose]
        else:
            ranked = sorted([listed, prose], key=len, reverse=True)
        for rank, reply in enumerate(ranked):
            items.append(Trajectory(messages=ask + [{"role": "assistant", "content": reply}], user=f"u{g}",
                                    thread=f"t{g}", feedback=Feedback(score=1.0 - rank, extra={"rank": rank})))
    return items


def test_cross_validation_keeps_the_length_alone_when_it_explains_the_votes():
    scorer = FeedbackScorer(embedder=HashEmbedder()).fit(_pairs_where(prefer_list=False))
    report = scorer.report
    assert report.features == "length" and report.C in FeedbackScorer.C_GRID  # ties go to the simplest model
    assert report.pairwise_accuracy_cv == 1.0 and report.pairwise_accuracy_val == 1.0


def test_cross_validation_reads_more_than_length_when_the_votes_need_it():
    """Here the listed reply wins, longer or not: the length alone ranks half the pairs wrong."""
    items = _pairs_where(prefer_list=True)
    assert pairwise_accuracy(lambda t: len(t.messages[-1].content), items)[0] == 0.5
    scorer = FeedbackScorer(embedder=HashEmbedder()).fit(items)
    assert scorer.report.features.startswith("statistics")
    assert scorer.report.pairwise_accuracy_val >= 0.9


def test_the_held_out_side_never_shapes_the_model():
    """Flipping every held-out vote changes the held-out accuracy it reports, not the model it fits."""
    items = _siblings(40, seed=3)
    scorer = FeedbackScorer(embedder=HashEmbedder()).fit(items)
    from engram.trajectories import TrajectoryDataset

    _, val = TrajectoryDataset(items).split(scorer.val_fraction, seed=scorer.seed)
    held_out = {t.id for t in val}
    flipped = [t.model_copy(update={"feedback": Feedback(score=1.0 - t.feedback.score,
                                                         extra={"rank": 1 - t.feedback.extra["rank"]})})
               if t.id in held_out else t for t in items]
    again = FeedbackScorer(embedder=HashEmbedder()).fit(flipped)
    assert again.report.features == scorer.report.features and again.report.C == scorer.report.C
    probe = [("How?", "Steps:\n1. a\n2. b"), ("How?", "No."), ("Why?", "Because of thing 3.")]
    assert again.score_many(probe) == pytest.approx(scorer.score_many(probe))
    # The reported held-out accuracy is a recomputation on exactly those trajectories.
    assert scorer.report.pairwise_accuracy_val == scorer.pairwise_accuracy(list(val))
    assert again.report.pairwise_accuracy_val == pytest.approx(1.0 - scorer.report.pairwise_accuracy_val)
