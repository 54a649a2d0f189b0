"""The one coercion to trajectories, used by every engram entry point that takes them.

Accepted: a :class:`TrajectoryDataset`, a :class:`Trajectory`, a dict, a pandas
``DataFrame`` (the columns of ``TrajectoryDataset.to_pandas``), a ``dspy.Example``, or
an iterable of trajectories, dicts, examples and LangMem ``(messages, feedback)`` pairs.
Anything else is a :class:`~engram.errors.ValidationError` that names the item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engram.errors import ValidationError
from engram.trajectories._dataset import TrajectoryDataset
from engram.trajectories._io import SUPPORTED_SUFFIXES
from engram.trajectories._types import SCORE_KEYS, Feedback, Message, Trajectory, read_score_keys

_EXAMPLE_FEEDBACK = ("score", "label", "comment")


def coerce(value: Any, *, what: str = "trajectories") -> list[Trajectory]:
    """A list of :class:`Trajectory` from any of the accepted shapes (see the module docstring).

    LangMem passes sessions as ``[(messages, feedback), ...]`` where feedback is a string, a
    number or a dict; a string becomes ``comment``, a number ``score``, a bool a thumbs
    ``label`` and a dict :class:`Feedback` fields (unknown keys go to ``extra``). A
    ``dspy.Example`` with ``messages`` is a trajectory; one made by
    ``TrajectoryDataset.to_dspy_examples`` becomes its transcript as one user turn, the
    reply and the feedback. ``what`` names the argument in error messages.

    Example::

        from engram.trajectories import coerce
        [t] = coerce([([{"role": "user", "content": "hi"}], "too terse")])
        t.feedback.comment           # 'too terse'
    """
    if value is None:
        raise ValidationError(f"No {what} given; pass a TrajectoryDataset or a list of trajectories.")
    if isinstance(value, TrajectoryDataset):
        return list(value)
    if isinstance(value, Trajectory):
        return [value]
    if _is_dataframe(value):
        return list(TrajectoryDataset.from_pandas(value))
    if isinstance(value, Mapping) or _is_example(value):
        return [_one(value)]
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        # a path is the likely str: say how to load it
        advice = (f"load the file first: TrajectoryDataset.load({value!r})"
                  if isinstance(value, str) and value.strip().lower().endswith(SUPPORTED_SUFFIXES)
                  else "wrap a single conversation as [(messages, feedback)]")
        raise ValidationError(
            f"The {what} must be a TrajectoryDataset, a DataFrame or a list, got "
            f"{type(value).__name__}; {advice}.")
    out: list[Trajectory] = []
    for index, item in enumerate(value):
        try:
            out.append(_one(item))
        except ValidationError as err:
            raise ValidationError(f"{what} item #{index}: {err}") from None
        except (TypeError, ValueError) as err:  # pydantic's ValidationError is a ValueError
            raise ValidationError(f"{what} item #{index}: {err}") from None
    return out


def coerce_feedback(value: Any) -> Feedback | None:
    """Feedback from LangMem-style values: None, a string (comment), a number (score), a bool or a dict.

    In a dict, ``score`` or any score key (``user_score``, ``rating``, ``reward``, ``*_score``,
    ``*_rating``) is the score: a number in [0, 1], or a bool for thumbs up / down (the key
    is kept in ``extra``). A number outside [0, 1] is refused (engram does not guess the
    scale), and so is a dict from which no score, label or comment can be read.

    Example::

        coerce_feedback(0.2).score                  # 0.2
        coerce_feedback({"user_score": 0}).score    # 0.0 (LangMem's own example)
    """
    if value is None or isinstance(value, Feedback):
        return value
    if isinstance(value, bool):
        return Feedback(label="up" if value else "down")
    if isinstance(value, (int, float)):
        return Feedback(score=float(value))
    if isinstance(value, str):
        return Feedback(comment=value) if value.strip() else None
    if isinstance(value, Mapping):
        return _from_mapping(value)
    return Feedback(comment=str(value))


def _from_mapping(value: Mapping[str, Any]) -> Feedback | None:
    try:
        data = read_score_keys(dict(value))
    except ValueError as err:
        raise ValidationError(f"{err}.") from None
    if isinstance(data.get("score"), bool):  # LangMem's {"score": True}: a thumbs up
        data["label"] = data.get("label") or ("up" if data.pop("score") else "down")
    known = set(Feedback.model_fields)
    fields = {k: v for k, v in data.items() if k in known}
    extra = {k: v for k, v in data.items() if k not in known}
    if extra:
        fields["extra"] = {**fields.get("extra", {}), **extra}
        if "comment" not in fields:  # e.g. {"feedback": "..."} from LangMem examples
            text = next((v for v in extra.values() if isinstance(v, str)), None)
            if text:
                fields["comment"] = text
    feedback = Feedback(**fields)
    if feedback.is_empty and value:
        raise ValidationError(
            f"cannot read a score from the feedback {dict(value)!r}: looked for a number in [0, 1] or a bool "
            f"under {', '.join(repr(k) for k in SCORE_KEYS)} or any '*_score' / '*_rating' key, a 'label' "
            "(e.g. 'up' / 'down'), or text ('comment', or any text value). Rename the key, or rescale the value.")
    return None if feedback.is_empty else feedback


def _one(item: Any) -> Trajectory:
    if isinstance(item, Trajectory):
        return item
    if _is_example(item):
        return _from_example(dict(item.toDict()))
    if isinstance(item, Mapping):
        return Trajectory.model_validate(dict(item))
    if isinstance(item, (tuple, list)) and len(item) == 2:
        messages, feedback = item
        return Trajectory(messages=messages, feedback=coerce_feedback(feedback))
    raise TypeError(f"expected a Trajectory, a dict, a dspy.Example or a (messages, feedback) pair, "
                    f"got {type(item).__name__}")


def _from_example(fields: dict[str, Any]) -> Trajectory:
    if "messages" in fields:
        known = {k: v for k, v in fields.items() if k in Trajectory.model_fields}
        return Trajectory.model_validate(known)
    if "conversation" not in fields:
        raise TypeError(f"a dspy.Example needs 'messages' or 'conversation' to be a trajectory; "
                        f"it has {sorted(fields)}")
    messages = [Message(role="user", content=str(fields["conversation"]))]
    if fields.get("response"):
        messages.append(Message(role="assistant", content=str(fields["response"])))
    feedback = {k: fields[k] for k in _EXAMPLE_FEEDBACK if fields.get(k) is not None}
    extra = {"id": fields["trajectory_id"]} if fields.get("trajectory_id") else {}
    return Trajectory(messages=messages, feedback=Feedback(**feedback) if feedback else None, **extra)


def _is_example(value: Any) -> bool:
    # Duck-typed so that this layer does not import DSPy: dspy.Example has toDict() and inputs().
    return callable(getattr(value, "toDict", None)) and callable(getattr(value, "inputs", None))


def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "columns") and hasattr(value, "to_dict")
