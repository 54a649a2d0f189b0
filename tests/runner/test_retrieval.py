"""The LoCoMo retrieval step on a tiny LoCoMo-format file: recall is measured, malformed evidence
ids are split, and a re-run neither re-indexes nor re-asks (checkpointed per conversation)."""

from __future__ import annotations

import json

from engram.loaders import load_locomo, locomo_questions
from engram.runner import load_config, run_experiment

SAMPLE = [{
    "sample_id": "conv-x",
    "conversation": {
        "speaker_a": "Ana", "speaker_b": "Ben",
        "session_1_date_time": "1 May 2023", "session_2_date_time": "8 May 2023",
        "session_1": [
            {"speaker": "Ana", "dia_id": "D1:1", "text": "I adopted a grey kitten called Pixel yesterday."},
            {"speaker": "Ben", "dia_id": "D1:2", "text": "Lovely! I am training for the Lisbon marathon."},
            {"speaker": "Ana", "dia_id": "D1:3", "text": "My sister moved to Oslo for a nursing job."},
        ],
        "session_2": [
            {"speaker": "Ben", "dia_id": "D2:1", "text": "I finished the marathon in four hours."},
            {"speaker": "Ana", "dia_id": "D2:2", "text": "I bought a new guitar, a red Fender.",
             "blip_caption": "a photo of a red electric guitar"},
        ],
    },
    "qa": [
        {"question": "What is the name of Ana's kitten?", "answer": "Pixel", "evidence": ["D1:1"], "category": 4},
        {"question": "Which city did Ana's sister move to?", "answer": "Oslo", "evidence": ["D1:3"], "category": 4},
        {"question": "What did Ben train for and how long did it take?", "answer": "a marathon, 4 hours",
         "evidence": ["D1:2; D2:1"], "category": 1},
        {"question": "What instrument did Ana buy?", "answer": "guitar", "evidence": ["D2:2"], "category": 5},
    ],
}]


def test_scorable_questions_split_malformed_evidence_and_skip_adversarial(tmp_path):
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(SAMPLE))
    [conv] = load_locomo(path)
    assert len(conv.turns) == 5 and "a photo of a red electric guitar" in conv.archive_items()[-1]["text"]
    assert [sorted(evidence) for _, evidence in locomo_questions(conv)] == [["D1:1"], ["D1:3"], ["D1:2", "D2:1"]]


def test_retrieval_step_measures_recall_and_resumes(tmp_path):
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps(SAMPLE))
    config = tmp_path / "exp.yaml"
    config.write_text(f"name: loc\nretrieval: {{enabled: true, path: {data}, k: [1, 5]}}\n"
                      f"tracking: {{experiment: loc}}\noutput_dir: {tmp_path / 'out'}\n")
    result = run_experiment(load_config(config), progress=False, print_summary=False)
    assert result.summary["steps"] == {"retrieval": "done"}
    assert result.summary["calls"] == 0                      # no LM calls
    details = result.table.set_index("step").loc["retrieval", "details"]
    assert "questions=3" in details and "recall_any@5=1.000" in details   # 5 turns: top 5 holds everything
    assert result.summary["recall"].startswith("recall_any@5 = 1.0")
    checkpoint = json.loads((tmp_path / "out" / "checkpoint.json").read_text())
    assert checkpoint["steps"]["retrieval"]["items"] == ["conv-x"]

    again = run_experiment(load_config(config), progress=False, print_summary=False)
    assert again.summary["resumed"] == ["retrieval"]
    from engram.store._store import MemoryStore

    store = MemoryStore.persistent(tmp_path / "out" / "locomo-chroma")
    assert store.count(("locomo", "conv-x"), kind="message") == 5   # indexed once
