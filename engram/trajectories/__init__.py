"""Trajectories: conversations with feedback, and datasets of them (pandas, JSONL, Parquet, DSPy).

:func:`coerce` is the one way every engram entry point turns what it is given into trajectories::

    from engram.trajectories import TrajectoryDataset, coerce
    trajectories = coerce(TrajectoryDataset.load("datasets/support.jsonl"))
"""

from engram.trajectories._coerce import coerce, coerce_feedback
from engram.trajectories._dataset import TrajectoryDataset
from engram.trajectories._types import (
    EngramModel,
    Feedback,
    FeedbackSource,
    Message,
    Role,
    Trajectory,
    coerce_messages,
)

__all__ = ["EngramModel", "Feedback", "FeedbackSource", "Message", "Role", "Trajectory", "TrajectoryDataset", "coerce",
           "coerce_feedback", "coerce_messages"]
