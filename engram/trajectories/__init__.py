"""Trajectories: conversations with feedback, and datasets of them (pandas, JSONL, Parquet, DSPy)."""

from engram.trajectories.dataset import TrajectoryDataset
from engram.trajectories.types import Feedback, Message, Trajectory, coerce_messages

__all__ = ["Message", "Feedback", "Trajectory", "TrajectoryDataset", "coerce_messages"]
