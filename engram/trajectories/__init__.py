"""Trajectories: conversations with feedback, and datasets of them (pandas, JSONL, Parquet, DSPy)."""

from engram.trajectories._dataset import TrajectoryDataset
from engram.trajectories._types import Feedback, Message, Trajectory, coerce_messages

__all__ = ["Feedback", "Message", "Trajectory", "TrajectoryDataset", "coerce_messages"]
