"""The one LoCoMo scorer: recall_any@k / recall_all@k / NDCG@10 by their definitions."""

from __future__ import annotations

import math

import pytest

from engram.loaders import LocomoConversation, locomo_questions, locomo_scores, locomo_summary


def test_scores_follow_the_definitions():
    ranked = ["D1:5", "D1:1", "D1:9", "D2:3"]
    scores = locomo_scores(ranked, {"D1:1", "D2:3"}, k=(1, 2, 4))
    assert scores["recall_any@1"] == 0.0 and scores["recall_all@1"] == 0.0
    assert scores["recall_any@2"] == 1.0 and scores["recall_all@2"] == 0.0   # one of two found
    assert scores["recall_all@4"] == 1.0
    dcg = 1 / math.log2(3) + 1 / math.log2(5)                                 # hits at ranks 2 and 4
    assert scores["ndcg@10"] == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    assert locomo_scores(["D1:1", "D2:3"], {"D1:1", "D2:3"})["ndcg@10"] == pytest.approx(1.0)


def test_a_question_without_evidence_is_refused():
    with pytest.raises(ValueError, match="without evidence"):
        locomo_scores(["D1:1"], set())


def test_summary_means_and_per_category_recall():
    rows = [{"category": 1, **locomo_scores(["a"], {"a"}, k=(1,))},
            {"category": 4, **locomo_scores(["b"], {"a"}, k=(1,))}]
    summary = locomo_summary(rows, k=(1,))
    assert summary["questions"] == 2 and summary["recall_any@1"] == 0.5
    assert summary["recall_any@1.multi-hop"] == 1.0 and summary["recall_any@1.single-hop"] == 0.0


def test_questions_keep_evidence_that_names_real_turns_and_skip_adversarial():
    turn = {"speaker": "A", "text": "hi", "session": 1}
    conv = LocomoConversation(
        sample_id="c", index=0, speaker_a="A", speaker_b="B",
        turns=[{**turn, "dia_id": "D1:1", "turn": 1}, {**turn, "dia_id": "D1:2", "turn": 2}],
        questions=[{"id": "q0", "question": "?", "category": 2, "evidence": ["D1:1", "D9:9"]},
                   {"id": "q1", "question": "?", "category": 5, "evidence": ["D1:2"]},
                   {"id": "q2", "question": "?", "category": 1, "evidence": ["D9:9"]}])
    assert [(q.id, evidence) for q, evidence in locomo_questions(conv)] == [("q0", {"D1:1"})]
