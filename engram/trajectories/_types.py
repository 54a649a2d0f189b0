"""Message, Feedback and Trajectory: the unit of data engram learns from.

A trajectory is one conversation, with the feedback it received and the prompt
version that produced it::

    t = Trajectory(
        messages=[{"role": "user", "content": "Reset my password"},
                  {"role": "assistant", "content": "Click 'Forgot password'."}],
        feedback={"score": 0.2, "comment": "Too terse, I wanted the steps."},
        user="u1",
    )
    t.id          # 't_3f2a...' (stable content hash)
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import numbers
import warnings
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from engram.errors import ValidationError

Role = Literal["system", "user", "assistant", "tool"]
FeedbackSource = Literal["user", "judge", "metric"]  # who gave a Feedback

# LangChain message types, duck-typed (no hard dependency on langchain).
_LANGCHAIN_ROLES: dict[str, Role] = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool",
                    "function": "tool", "developer": "system"}
_POSITIVE_LABELS = {"up", "thumbs_up", "+1", "good", "positive", "like", "yes", "accept", "1", "true"}
_NEGATIVE_LABELS = {"down", "thumbs_down", "-1", "bad", "negative", "dislike", "no", "reject",
                    "red_flag", "0", "false"}


def _misspelled(problem: Any, missing: set[str]) -> bool:
    """An unknown top-level key close to the name of a field pydantic finds missing: the
    misspelling is why, so it is told first."""
    loc = problem["loc"]
    return (problem["type"] == "extra_forbidden" and len(loc) == 1
            and bool(difflib.get_close_matches(str(loc[0]), sorted(missing), n=1, cutoff=0.7)))


def engram_validation_error(err: PydanticValidationError, model: type[BaseModel]) -> ValidationError:
    """pydantic's error as an :class:`engram.ValidationError`: the first problem, located and explained.

    ``Prompt(name="a", template="x", temperature=0.2)`` reads
    ``Prompt: field 'temperature': unknown field. Valid fields: name, template, ...``.
    """
    problems = err.errors()
    missing = {str(p["loc"][0]) for p in problems if p["type"] == "missing" and len(p["loc"]) == 1}
    first = next((p for p in problems if _misspelled(p, missing)), problems[0])
    loc = tuple(first["loc"])
    kind = first["type"]
    message = str(first["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        message = "unknown field"
        hint = model._unknown_field_hint(str(loc[0])) if len(loc) == 1 and issubclass(model, EngramModel) else None
        if hint:
            message += f"; {hint}"
        elif len(loc) == 1:
            valid = list(model.model_fields)
            close = difflib.get_close_matches(str(loc[0]), valid, n=1)
            message += (f" (did you mean {close[0]!r}?)" if close else "") + f". Valid fields: {', '.join(valid)}"
    elif kind == "missing":
        message = "required field is missing"
    elif kind == "too_short" and loc == ("messages",):
        message = "the conversation is empty; a trajectory needs at least one message"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    field = ".".join(str(p) for p in loc) or None
    return ValidationError(message, source=model.__name__, field=field)


class EngramModel(BaseModel):
    """A pydantic model whose validation errors are :class:`engram.ValidationError` (not pydantic's).

    The constructor and ``model_validate`` convert; pydantic's error stays as ``__cause__``.
    """

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except PydanticValidationError as err:
            raise engram_validation_error(err, type(self)) from err

    # Tell pydantic this __init__ only wraps its own: nested models (a Trajectory's messages) are
    # then validated as before, so their errors keep their full location ('messages.0.role').
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def _unknown_field_hint(cls, name: str) -> str | None:
        """What to say of the unknown field ``name`` instead of a did-you-mean (None: the default)."""
        return None

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate(obj, **kwargs)
        except PydanticValidationError as err:
            raise engram_validation_error(err, cls) from err


class Message(EngramModel):
    """One chat message in OpenAI form.

    ``Message.coerce`` also accepts OpenAI-style dicts and LangChain message objects::

        Message.coerce({"role": "user", "content": "hi"})
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    content: str = ""
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _content_to_text(cls, value: Any) -> Any:
        # OpenAI content parts: [{"type": "text", "text": "..."}]
        if isinstance(value, list):
            left_out = sorted({str(p.get("type", "untyped")) for p in value
                               if isinstance(p, dict) and not isinstance(p.get("text"), str)})
            if left_out:  # said, not silent: the stored conversation is not the one that was held
                warnings.warn(f"a message's {', '.join(left_out)} content parts were left out: engram keeps "
                              f"the text parts of a message only.", UserWarning, stacklevel=2)
            return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in value)
        if value is None:
            return ""
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Message:
        if not self.content and not self.tool_calls:
            raise ValueError("a message needs non-empty 'content' (or 'tool_calls')")
        return self

    @classmethod
    def coerce(cls, obj: Any) -> Message:
        """Build a message from a ``Message``, an OpenAI-style dict or a LangChain message."""
        if isinstance(obj, Message):
            return obj
        if isinstance(obj, dict):
            return cls.model_validate(obj)
        lc_type = getattr(obj, "type", None)
        if lc_type in _LANGCHAIN_ROLES and hasattr(obj, "content"):
            tool_calls = getattr(obj, "tool_calls", None) or None
            if tool_calls:
                tool_calls = [
                    {"id": c.get("id"), "type": "function",
                     "function": {"name": c.get("name"), "arguments": json.dumps(c.get("args", {}))}}
                    for c in tool_calls
                ]
            return cls(role=_LANGCHAIN_ROLES[lc_type], content=obj.content,
                       name=getattr(obj, "name", None), tool_calls=tool_calls,
                       tool_call_id=getattr(obj, "tool_call_id", None))
        raise TypeError(
            f"Cannot turn {type(obj).__name__} into a Message: pass a dict with 'role' and 'content', "
            "a LangChain message, or an engram.Message."
        )

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI chat format, without empty optional keys."""
        return self.model_dump(exclude_none=True)

    def text_with_calls(self, *, arguments: bool = True) -> str:
        """The content, then ``[calls name(arguments), ...]`` when the message calls tools.

        The one rendering of tool calls for every transcript engram shows an LM.
        """
        if not self.tool_calls:
            return self.content
        calls = ", ".join(
            f"{c.get('function', {}).get('name')}({c.get('function', {}).get('arguments')})" if arguments
            else str(c.get("function", {}).get("name"))
            for c in self.tool_calls
        )
        return (self.content + " " if self.content else "") + f"[calls {calls}]"


def coerce_messages(obj: Any) -> list[Message]:
    """A list of messages from a list (of dicts / LangChain messages) or a ``dspy.History``.

    A ``dspy.History`` entry with ``role``/``content`` becomes that message; any other
    entry becomes a user turn made of its first field and an assistant turn of the rest.
    """
    if hasattr(obj, "messages") and not isinstance(obj, (list, tuple)):  # dspy.History
        messages: list[Message] = []
        for entry in obj.messages:
            if "role" in entry and "content" in entry:
                messages.append(Message.coerce(entry))
                continue
            keys = list(entry)
            if not keys:
                continue
            messages.append(Message(role="user", content=str(entry[keys[0]])))
            rest = "\n".join(f"{k}: {entry[k]}" for k in keys[1:])
            if rest:
                messages.append(Message(role="assistant", content=rest))
        return messages
    if isinstance(obj, (str, bytes)) or not hasattr(obj, "__iter__"):
        raise TypeError("messages must be a list of messages or a dspy.History")
    return [Message.coerce(m) for m in obj]


#: Feedback keys read as a score (besides any key ending in ``_score`` or ``_rating``).
SCORE_KEYS = ("score", "user_score", "rating", "reward")


def is_score_key(key: Any) -> bool:
    return isinstance(key, str) and (key in SCORE_KEYS or key.endswith(("_score", "_rating")))


def read_score_keys(feedback: dict[str, Any]) -> dict[str, Any]:
    """A feedback dict with a LangMem-style score key (``user_score``, ``rating``, ``*_score``, ...)
    moved to ``score`` (a bool to a thumbs ``label``); the original key is kept in ``extra``.
    Unchanged when ``score`` is given or no such key is. A number outside [0, 1] is refused:
    engram does not guess the scale.

    >>> read_score_keys({"user_score": 0})
    {'extra': {'user_score': 0}, 'score': 0.0}
    """
    if feedback.get("score") is not None:
        return feedback
    key = next((k for k, v in feedback.items() if k != "score" and is_score_key(k) and v is not None), None)
    if key is None:
        return feedback
    out = {k: v for k, v in feedback.items() if k not in (key, "score")}
    raw = feedback[key]
    out["extra"] = {**(out.get("extra") or {}), key: raw}
    if isinstance(raw, bool):
        out.setdefault("label", "up" if raw else "down")
        return out
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"feedback {key!r} must be a number in [0, 1] or a bool, got {raw!r}") from None
    if not 0.0 <= number <= 1.0:  # NaN fails this too
        raise ValueError(f"feedback {key!r} is {raw!r}, outside [0, 1]; engram does not guess the scale: "
                         f"rescale it (e.g. a rating of 4 out of 5 is 0.8) and pass it as 'score'")
    out["score"] = number
    return out


class Feedback(EngramModel):
    """Feedback on a trajectory: a score in [0, 1], a label, a comment, or any mix.

    ``Feedback(label="thumbs_down", comment="too long").value`` is ``0.0``.
    """

    model_config = ConfigDict(extra="forbid")

    score: float | None = None
    label: str | None = None
    comment: str | None = None
    source: FeedbackSource = "user"
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("score", mode="before")  # before: pydantic would turn True into 1.0 first
    @classmethod
    def _score_in_range(cls, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, str):  # CSV cells
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"score must be a number in [0, 1], got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"score must be a number in [0, 1] (a thumbs-up/down goes in label), "
                             f"got {value!r}")
        number = float(value)
        if math.isnan(number) or not 0.0 <= number <= 1.0:
            raise ValueError(f"score must be a number in [0, 1], got {value!r}")
        return number

    @property
    def value(self) -> float | None:
        """The score, or one derived from a thumbs-style label (1.0 / 0.0); None if neither."""
        if self.score is not None:
            return self.score
        if self.label is not None:
            norm = self.label.strip().lower()
            if norm in _POSITIVE_LABELS:
                return 1.0
            if norm in _NEGATIVE_LABELS:
                return 0.0
        return None

    @property
    def is_empty(self) -> bool:
        return self.score is None and self.label is None and not self.comment


class Trajectory(EngramModel):
    """One conversation with its feedback, provenance and metadata.

    ``id`` is a content hash of the messages, user, thread and prompt version unless given,
    so the same data always yields the same ids (and the same LM cache hits).
    """

    model_config = ConfigDict(extra="forbid")

    id: str = ""
    messages: list[Message] = Field(min_length=1)
    feedback: Feedback | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    user: str | None = None
    thread: str | None = None
    time: datetime | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def _unknown_field_hint(cls, name: str) -> str | None:
        close = difflib.get_close_matches(name, list(cls.model_fields), n=1)
        guess = f"did you mean {close[0]!r}? Otherwise " if close else ""
        return f"{guess}remove it or put it under 'metadata'"

    @field_validator("messages", mode="before")
    @classmethod
    def _coerce_messages(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [Message.coerce(m) if not isinstance(m, dict) else m for m in value]
        if hasattr(value, "messages"):
            return coerce_messages(value)
        return value

    @field_validator("feedback", mode="before")
    @classmethod
    def _read_score_keys(cls, value: Any) -> Any:
        return read_score_keys(value) if isinstance(value, dict) else value

    @field_validator("prompt_version", mode="before")
    @classmethod
    def _version_to_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _assign_id(self) -> Trajectory:
        if not self.id:
            self.id = self.content_hash()
        return self

    def content_hash(self) -> str:
        """``t_`` + 16 hex digits of the SHA-256 of the conversation and who/what produced it."""
        payload = {
            "messages": [m.to_openai() for m in self.messages],
            "user": self.user,
            "thread": self.thread,
            "prompt": [self.prompt_name, self.prompt_version],
        }
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        return "t_" + digest[:16]

    @property
    def score(self) -> float | None:
        """The feedback's value (score, or one derived from the label)."""
        return self.feedback.value if self.feedback else None

    @property
    def user_turns(self) -> list[Message]:
        return [m for m in self.messages if m.role == "user"]

    @property
    def last_response(self) -> str | None:
        """Content of the last assistant message, if any."""
        for message in reversed(self.messages):
            if message.role == "assistant":
                return message.content
        return None

    def transcript(self, *, include_system: bool = False) -> str:
        """The conversation as ``role: content`` lines, deterministic, for prompts."""
        lines = []
        for m in self.messages:
            if m.role == "system" and not include_system:
                continue
            lines.append(f"{m.role}: {m.text_with_calls()}")
        return "\n".join(lines)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict (the JSONL line format), without empty optional fields."""
        record = self.model_dump(mode="json", exclude_none=True)
        record["messages"] = [m.to_openai() for m in self.messages]
        if not record.get("tags"):
            record.pop("tags", None)
        if not record.get("metadata"):
            record.pop("metadata", None)
        if self.feedback is not None and not self.feedback.extra:
            record["feedback"].pop("extra", None)
        return record
