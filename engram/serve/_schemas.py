"""Request and response bodies of the HTTP API (pydantic v2; the OpenAPI schema comes from here).

Every field has bounds, so an oversized or malformed request is refused with a 422 that
names the field before anything is read or written. Namespaces are lists of parts
relative to the caller's tenant (see :mod:`engram.serve._tenancy`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError
from typing_extensions import TypeAliasType

MAX_CONTENT_DEPTH = 32
MAX_FILTER_DEPTH = 4


def _depth(value: Any) -> int:
    """How many objects / arrays deep ``value`` nests (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level > MAX_CONTENT_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def _shallow_content(value: Any) -> Any:
    if _depth(value) > MAX_CONTENT_DEPTH:
        raise PydanticCustomError("too_deep", f"content nests objects / arrays more than {MAX_CONTENT_DEPTH} "
                                              "levels deep; flatten it (or store it as a string).")
    return value


def _shallow_filter(value: Any) -> Any:
    if _depth(value) > 2 * MAX_FILTER_DEPTH + 3:  # each $and / $or level is a list and an object
        raise PydanticCustomError("too_deep", f"filter nests $and / $or more than {MAX_FILTER_DEPTH} levels "
                                              "deep; simplify it.")
    return value


Part = Annotated[str, StringConstraints(min_length=1, max_length=128)]
NamespaceIn = Annotated[list[Part], Field(min_length=1, max_length=8,
                                          description="Namespace parts, relative to your tenant.",
                                          examples=[["memories", "u1"]])]
Key = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Scalar = str | int | float | bool
Metadata = Annotated[dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Scalar | None],
                     Field(max_length=32)]
Condition = Scalar | dict[str, Scalar | list[Scalar]]
# {"topic": "food", "rating": {"$gte": 4}} or {"$and": [{"b": {"$gt": 1}}, {"b": {"$lt": 5}}]}
if TYPE_CHECKING:  # mypy cannot follow the recursive alias; pydantic does
    FilterTerm = dict[str, Any]
else:
    FilterTerm = TypeAliasType("FilterTerm", Annotated[
        dict[Annotated[str, StringConstraints(min_length=1, max_length=64)],
             Condition | Annotated[list["FilterTerm"], Field(min_length=1, max_length=16)]],
        Field(min_length=1, max_length=16)])
Filter = Annotated[dict[Annotated[str, StringConstraints(min_length=1, max_length=64)],
                        Condition | Annotated[list[FilterTerm], Field(min_length=1, max_length=16)]],
                   Field(max_length=16), AfterValidator(_shallow_filter)]
Kind = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Content = Annotated[Annotated[str, StringConstraints(min_length=1, max_length=64_000)] | dict[str, Any],
                    AfterValidator(_shallow_content)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemoryCreate(_In):
    namespace: NamespaceIn
    key: Key | None = Field(None, description="Your key for the memory; a random one if omitted.")
    content: Content
    kind: Kind = "memory"
    metadata: Metadata | None = None
    expected_version: Annotated[int, Field(ge=0, le=2**31)] | None = Field(
        None, description="Write only if the memory is at this version (0: must not exist).")


class MemoryPatch(_In):
    content: Content | None = None
    kind: Kind | None = None
    metadata: Metadata | None = Field(None, description="Merged into the current metadata; null removes a key.")
    expected_version: Annotated[int, Field(ge=1, le=2**31)] | None = None


class RestoreIn(_In):
    version: Annotated[int, Field(ge=1, le=2**31)]


class SearchIn(_In):
    namespace: NamespaceIn
    query: Annotated[str, StringConstraints(min_length=1, max_length=4000)] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 10
    offset: Annotated[int, Field(ge=0, le=10_000)] = 0
    filter: Filter | None = None
    kind: Kind | None = None
    min_score: Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)] | None = None


class MemoryOut(BaseModel):
    id: str
    namespace: list[str]
    kind: str
    content: str | dict[str, Any]
    metadata: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    deleted: bool
    score: float | None = None


class SearchOut(BaseModel):
    results: list[MemoryOut]


class HistoryOut(BaseModel):
    versions: list[MemoryOut]


class NamespacesOut(BaseModel):
    namespaces: list[list[str]]


MAX_CONTENT_PARTS = 100


class TextPartIn(BaseModel):
    """One OpenAI-style content part; only text parts are supported (other keys are ignored)."""

    type: Literal["text"]
    text: Annotated[str, StringConstraints(max_length=32_000)]


def _joined_text(value: Any) -> Any:
    """OpenAI-style content parts -> one string (the text parts concatenated, as ``engram.Message``
    and LangChain's ``.text`` do, so a conversation sent over REST is stored with the same text and
    id as from Python); a part of any other type (an image, audio, a file) is refused, naming it."""
    if not isinstance(value, list):
        return value
    if not value or len(value) > MAX_CONTENT_PARTS:
        raise PydanticCustomError("content_parts", "content is a list of {count} parts; send 1 to {most} text "
                                  "parts, or a string.", {"count": len(value), "most": MAX_CONTENT_PARTS})
    texts = []
    for index, part in enumerate(value):
        if not isinstance(part, dict):
            raise PydanticCustomError("text_parts_only", "content[{index}] is not an object; a content part "
                                      "looks like {'type': 'text', 'text': ...}.", {"index": index})
        kind = part.get("type")
        if kind != "text":
            raise PydanticCustomError("text_parts_only", "content[{index}] has type {kind}; only text parts "
                                      "({'type': 'text', 'text': ...}) are supported, so leave images, audio "
                                      "and files out.", {"index": index, "kind": repr(kind)})
        if not isinstance(part.get("text"), str):
            raise PydanticCustomError("text_parts_only", "content[{index}] is a text part without a 'text' "
                                      "string.", {"index": index})
        texts.append(part["text"])
    return "".join(texts)


class MessageIn(_In):
    role: Literal["system", "user", "assistant", "tool"]
    # _joined_text turns parts into a string before validation; the list branch is what the OpenAPI
    # document shows clients (TextPartIn), not a second check.
    content: Annotated[Annotated[str, StringConstraints(min_length=1, max_length=32_000)]
                       | Annotated[list[TextPartIn], Field(min_length=1, max_length=MAX_CONTENT_PARTS)],
                       BeforeValidator(_joined_text)] = Field(
        description="Text, or OpenAI-style content parts ([{\"type\": \"text\", \"text\": ...}]), which are "
                    "concatenated; only text parts are supported.")
    name: Annotated[str, StringConstraints(max_length=128)] | None = None


Messages = Annotated[list[MessageIn], Field(min_length=1, max_length=200)]


class ExtractIn(_In):
    namespace: NamespaceIn
    messages: Messages
    wait: bool = Field(False, description="Apply now and answer with the result, or queue a job.")
    thread_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        None, description="Queued work of one thread is debounced: a newer request merges into it.")
    after_seconds: Annotated[float, Field(ge=0, le=3600)] = Field(
        0.0, description="Delay before a queued job runs (debounce window).")


class ExtractOut(BaseModel):
    job_id: str | None = None
    status: str
    merged: bool = False
    result: dict[str, Any] | None = None


class FeedbackIn(_In):
    score: Annotated[float, Field(ge=0, le=1)] | None = None
    label: Annotated[str, StringConstraints(max_length=64)] | None = None
    comment: Annotated[str, StringConstraints(max_length=4000)] | None = None


class TrajectoryIn(_In):
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    messages: Messages
    feedback: FeedbackIn | None = None
    prompt_name: Annotated[str, StringConstraints(max_length=128)] | None = None
    prompt_version: Annotated[str, StringConstraints(max_length=32)] | None = None
    user: Annotated[str, StringConstraints(max_length=128)] | None = None
    thread: Annotated[str, StringConstraints(max_length=128)] | None = None


DatasetName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
PromptName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")]
Alias = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class FeedbackBatchIn(_In):
    dataset: DatasetName
    trajectories: Annotated[list[TrajectoryIn], Field(min_length=1, max_length=500)]


class FeedbackOut(BaseModel):
    dataset: str
    appended: int
    total: int


class OptimizerSettings(_In):
    kind: Literal["gradient", "metaprompt", "prompt_memory"] = "gradient"
    max_reflection_steps: Annotated[int, Field(ge=1, le=10)] | None = None
    min_reflection_steps: Annotated[int, Field(ge=0, le=10)] | None = None

    @model_validator(mode="after")
    def _steps_in_order(self) -> OptimizerSettings:
        # Only the gradient optimizer has a minimum (the others ignore it); it needs 1 <= min <= max.
        low, high = self.min_reflection_steps, self.max_reflection_steps or 3
        if self.kind == "gradient" and low is not None and not 1 <= low <= high:
            raise PydanticCustomError("steps_order", "min_reflection_steps must be between 1 and "
                                                     "max_reflection_steps ({high}), got {low}.",
                                      {"low": low, "high": high})
        return self


class OptimizeIn(_In):
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=32_000)] | None = Field(
        None, description="The prompt text to improve (or give prompt_name).")
    prompt_name: PromptName | None = Field(None, description="Your registered prompt (loaded at `alias`).")
    alias: Alias = "production"
    trajectories: Annotated[list[TrajectoryIn], Field(min_length=1, max_length=500)] | None = None
    dataset: DatasetName | None = Field(None, description="A dataset filled by POST /v1/feedback.")
    optimizer: OptimizerSettings = Field(default_factory=OptimizerSettings)
    register_: bool = Field(False, alias="register",
                            description="Register the result as a new version of prompt_name.")
    promote: Alias | None = Field(None, description="Point this alias at the new version (needs register).")


class JobOut(BaseModel):
    id: str
    kind: str
    status: str
    result: dict[str, Any] | None = None
    error: str | None = None
    usage: dict[str, Any] | None = None
    attempts: int
    created_at: float
    updated_at: float


class PromptOut(BaseModel):
    name: str
    version: int | None = None
    template: str
    variables: list[str] = Field(default_factory=list)
    source: str | None = Field(None, description="registry, cache, stale or fallback")


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


__all__ = ["ErrorOut", "ExtractIn", "ExtractOut", "FeedbackBatchIn", "FeedbackOut", "HistoryOut", "JobOut",
           "MemoryCreate", "MemoryOut", "MemoryPatch", "MessageIn", "NamespacesOut", "OptimizeIn",
           "OptimizerSettings", "PromptOut", "RestoreIn", "SearchIn", "SearchOut", "TextPartIn", "TrajectoryIn"]
