"""Held-out data and scorers from MLflow, for the candidate gate.

The gate replays held-out *trajectories*. MLflow users keep held-out data as an evaluation
dataset (``mlflow.genai.datasets``: rows of ``inputs`` / ``expectations`` / ``outputs``) and
score with ``mlflow.genai.scorers`` (``@scorer`` functions, built-in or LLM judges). This
module turns the first into trajectories (one user turn per row) and the second into the
gate's replay metric, so ``CandidateGate(scorers=[...]).compare(old, new, eval_dataset)``
works without writing glue. MLflow is imported only if such objects are passed.
"""

from __future__ import annotations

import json
import math
from typing import Any

from engram.errors import ValidationError
from engram.optimizers._formatting import coerce_trajectories
from engram.prompts import Prompt
from engram.trajectories import Message, Trajectory

MLFLOW_KEY = "mlflow"  # trajectory.metadata[MLFLOW_KEY] = {"inputs": ..., "expectations": ...}


def _is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "to_dict")


def _user_text(inputs: Any) -> str:
    if isinstance(inputs, str):
        return inputs
    if isinstance(inputs, dict):
        if len(inputs) == 1:
            return str(next(iter(inputs.values())))
        return "\n".join(f"{k}: {v}" for k, v in inputs.items())
    return json.dumps(inputs, default=str)


def _row_to_trajectory(row: dict[str, Any], index: int) -> Trajectory:
    inputs = row.get("inputs")
    if inputs is None or (isinstance(inputs, float) and math.isnan(inputs)):
        raise ValidationError(f"evaluation row {index} has no 'inputs'; each row needs an inputs dict "
                              "(e.g. {'question': '...'}), as in mlflow.genai evaluation datasets.")
    expectations = row.get("expectations")
    if not isinstance(expectations, dict):
        expectations = None
    messages = inputs.get("messages") if isinstance(inputs, dict) else None
    if isinstance(messages, list) and messages:
        chat = [Message.model_validate(m) if isinstance(m, dict) else m for m in messages]
    else:
        chat = [Message(role="user", content=_user_text(inputs))]
    variables = {k: v for k, v in inputs.items() if k != "messages"} if isinstance(inputs, dict) else {}
    row_id = row.get("dataset_record_id") or row.get("id") or f"eval-{index}"
    return Trajectory(id=str(row_id), messages=chat, metadata={
        MLFLOW_KEY: {"inputs": inputs, "expectations": expectations}, "prompt_variables": variables})


def held_out_trajectories(data: Any) -> list[Trajectory]:
    """Trajectories from trajectories, a dataset, an MLflow evaluation dataset or a DataFrame of rows.

    A DataFrame (or ``EvaluationDataset.to_df()``) needs an ``inputs`` column of dicts; the
    optional ``expectations`` column is handed to the scorers. ``inputs["messages"]`` (chat
    messages) becomes the conversation; otherwise the inputs become one user turn, and are
    also offered as template variables of the prompt.
    """
    if hasattr(data, "to_df") and not _is_frame(data) and type(data).__name__ == "EvaluationDataset":
        data = data.to_df()
    if _is_frame(data):
        if "inputs" not in data.columns:
            raise ValidationError("held-out rows need an 'inputs' column (MLflow evaluation dataset shape: "
                                  f"inputs, expectations, outputs); got columns {list(data.columns)}.")
        return [_row_to_trajectory(row, i) for i, row in enumerate(data.to_dict(orient="records"))]
    if isinstance(data, list) and data and isinstance(data[0], dict) and "inputs" in data[0]:
        return [_row_to_trajectory(row, i) for i, row in enumerate(data)]
    return coerce_trajectories(data)


def _to_number(value: Any, name: str) -> float:
    if hasattr(value, "value") and hasattr(value, "error"):  # an MLflow Feedback / Assessment
        if getattr(value, "error", None):
            raise ValidationError(f"scorer {name!r} failed: {value.error}")
        value = value.value
    if isinstance(value, list):
        numbers = [_to_number(v, name) for v in value]
        if not numbers:
            raise ValidationError(f"scorer {name!r} returned an empty list of feedback.")
        return sum(numbers) / len(numbers)
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        verdict = value.strip().lower()
        if verdict in {"yes", "pass", "true", "correct"}:
            return 1.0
        if verdict in {"no", "fail", "false", "incorrect"}:
            return 0.0
    raise ValidationError(f"scorer {name!r} returned {value!r}, which the gate cannot read as a score; "
                          "return a number, a bool, 'yes'/'no', or a Feedback with one of those.")


class ScorersMetric:
    """The gate's replay metric over MLflow scorers: the mean of their values on the last reply.

    Each scorer gets ``inputs`` (the row's inputs, or the conversation before the last reply),
    ``outputs`` (the replayed last reply) and ``expectations`` (the row's, if any).
    """

    def __init__(self, scorers: Any):
        items = list(scorers) if isinstance(scorers, (list, tuple)) else [scorers]
        if not items:
            raise ValidationError("scorers= is empty; pass at least one mlflow.genai scorer.")
        for item in items:
            if not hasattr(item, "run"):
                raise ValidationError(f"{item!r} is not an MLflow scorer (it has no .run); decorate the "
                                      "function with mlflow.genai.scorers.scorer, or pass it as metric=.")
        self.scorers = items

    def __call__(self, trajectory: Trajectory, replayed: list[Message], prompt: Prompt) -> float:
        saved = trajectory.metadata.get(MLFLOW_KEY) or {}
        inputs = saved.get("inputs")
        if inputs is None:
            inputs = {"messages": [m.model_dump(exclude_none=True) for m in replayed[:-1]]}
        outputs = replayed[-1].content if replayed else ""
        expectations = saved.get("expectations")
        values = [_to_number(s.run(inputs=inputs, outputs=outputs, expectations=expectations),
                             getattr(s, "name", type(s).__name__)) for s in self.scorers]
        return sum(values) / len(values)
