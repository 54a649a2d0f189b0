"""The hybrid ranker's signals: session context lifts turns of the session the query is about."""

from __future__ import annotations

import numpy as np

from engram.store import HybridRanker
from engram.store._archive._ranking import ArchiveIndex


def _index() -> ArchiveIndex:
    # Session 1 is about the trip (turn 0 matches the query), session 2 about cooking.
    vectors = np.array([[1.0, 0.0], [0.3, 0.95], [0.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    keys = ["D1:1", "D1:2", "D2:1", "D2:2"]
    texts = ["We flew to Lisbon", "It was lovely", "Pasta tonight", "With basil"]
    return ArchiveIndex.build(keys, texts, vectors, [(0, 1, 1), (0, 1, 2), (0, 2, 1), (0, 2, 2)],
                              ["Ann", "Bob", "Ann", "Bob"])


def test_session_signal_lifts_the_turns_of_the_matching_session() -> None:
    index = _index()
    query = np.array([1.0, 0.0], dtype=np.float32)
    signals = HybridRanker().signals(index, "trip?", query)
    assert signals["session"][0] == signals["session"][1] > signals["session"][2] == signals["session"][3]
    without = HybridRanker(session=0, neighbour=0, lexical=0, speaker=0).scores(index, "trip?", query)
    with_session = HybridRanker(session=1.0, neighbour=0, lexical=0, speaker=0).scores(index, "trip?", query)
    # "It was lovely" shares no meaning with the query but sits in the trip's session
    assert with_session[1] - with_session[2] > without[1] - without[2]


def test_scores_are_the_fusion_of_the_signals() -> None:
    index = _index()
    ranker = HybridRanker()
    query = np.array([0.6, 0.8], dtype=np.float32)
    np.testing.assert_allclose(ranker.scores(index, "Ann lisbon", query),
                               ranker.fuse(index, ranker.signals(index, "Ann lisbon", query)))
    assert ranker.signals(index, "Ann lisbon", query)["speaker"].tolist() == [1.0, 0.0, 1.0, 0.0]
