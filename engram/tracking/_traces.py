"""Feedback from production: MLflow traces with feedback assessments -> a TrajectoryDataset.

This closes the loop: production traces -> trajectories -> optimize -> register -> promote::

    import mlflow
    mlflow.set_tracking_uri(engram.get_settings().resolved_tracking_uri)   # the app and engram agree
    mlflow.set_experiment("production-chat")

    @mlflow.trace                                     # in production, per request
    def chat(messages):
        prompt = engram.load_prompt("support@production")
        tag_current_trace(prompt, user="u1", thread="s1")
        return "Open Settings > Security."            # your model's reply

    chat([{"role": "user", "content": "How do I reset my password?"}])
    mlflow.flush_trace_async_logging()
    mlflow.log_feedback(trace_id=mlflow.get_last_active_trace_id(), name="thumbs", value=False,
                        rationale="too terse")

    # offline, later
    dataset = traces_to_dataset("production-chat")   # TrajectoryDataset with Feedback
    dataset[0].feedback.comment                       # 'too terse'


A trace becomes a trajectory as follows: the root span's ``messages`` input (OpenAI style)
or its text input is the conversation, its output (text, an OpenAI response, or a dict with
one text field) the assistant's reply. The feedback is the newest valid assessment named
``feedback_name``, else the newest from a human, else from a judge, else from code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from engram.errors import NotFoundError
from engram.tracking._backend import mlflow_client, mlflow_errors, resolve_uri
from engram.tracking._linking import (
    CANARY_ARM_TAG,
    PROMPT_NAME_TAG,
    PROMPT_SOURCE_TAG,
    PROMPT_VERSION_TAG,
)
from engram.trajectories import Feedback, FeedbackSource, Message, Trajectory, TrajectoryDataset

_SOURCE_RANK = {"HUMAN": 0, "LLM_JUDGE": 1, "CODE": 2}
_SOURCE_NAME: dict[str, FeedbackSource] = {"HUMAN": "user", "LLM_JUDGE": "judge", "CODE": "metric"}
_TEXT_KEYS = ("content", "answer", "response", "output", "text", "result", "message", "question",
              "query", "input", "prompt")


def tag_current_trace(prompt: Any = None, *, user: str | None = None, thread: str | None = None) -> None:
    """Record on the active MLflow trace which prompt version served it, and the user / session."""
    import mlflow

    tags = {}
    if prompt is not None:
        tags = {PROMPT_NAME_TAG: str(prompt.name), PROMPT_VERSION_TAG: str(prompt.version or "")}
    metadata = {k: v for k, v in {"mlflow.trace.user": user, "mlflow.trace.session": thread}.items() if v}
    mlflow.update_current_trace(tags=tags or None, metadata=metadata or None)


def _text(value: Any) -> str | None:
    """The text in an input or output: a string, an OpenAI response, or a one-text-field dict."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        choices = value.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message") or {}
            if isinstance(message.get("content"), str):
                return message["content"]
        texts = {k: v for k, v in value.items() if isinstance(v, str)}
        for key in _TEXT_KEYS:
            if key in texts:
                return texts[key]
        if len(texts) == 1:
            return next(iter(texts.values()))
    return json.dumps(value, ensure_ascii=False, default=str)


def _messages(inputs: Any, outputs: Any) -> list[Message]:
    messages: list[Message] = []
    raw = inputs.get("messages") if isinstance(inputs, dict) else inputs if isinstance(inputs, list) else None
    if isinstance(raw, list) and all(isinstance(m, dict) and "role" in m for m in raw):
        messages = [Message.coerce({k: m[k] for k in ("role", "content", "name", "tool_calls", "tool_call_id")
                                    if k in m}) for m in raw if m.get("content") or m.get("tool_calls")]
    else:
        text = _text(inputs)
        if text:
            messages = [Message(role="user", content=text)]
    reply = _text(outputs)
    if reply:
        messages.append(Message(role="assistant", content=reply))
    return messages


def _pick_feedback(assessments: list[Any], feedback_name: str | None) -> tuple[Any, list[Any]]:
    usable = [a for a in assessments
              if type(a).__name__ == "Feedback" and getattr(a, "valid", True) is not False
              and getattr(a, "error", None) is None and a.value is not None]
    if feedback_name is not None:
        usable = [a for a in usable if a.name == feedback_name]
    if not usable:
        return None, []
    usable.sort(key=lambda a: (_SOURCE_RANK.get(a.source.source_type, 3),
                               -(a.last_update_time_ms or a.create_time_ms or 0)))
    return usable[0], usable


def _feedback(chosen: Any, all_usable: list[Any]) -> Feedback:
    value = chosen.value
    score = label = None
    extra: dict[str, Any] = {"assessment": chosen.name,
                             "assessments": {a.name: a.value for a in reversed(all_usable)}}
    if isinstance(value, bool):
        score, label = float(value), "thumbs_up" if value else "thumbs_down"
    elif isinstance(value, (int, float)) and 0 <= value <= 1:
        score = float(value)
    elif isinstance(value, str):
        label = value
    else:  # a number on another scale, or a structured value: keep it, do not guess a score
        extra["value"] = value
    if chosen.source.source_id:
        extra["source_id"] = chosen.source.source_id
    return Feedback(score=score, label=label, comment=chosen.rationale or None,
                    source=_SOURCE_NAME.get(chosen.source.source_type, "user"), extra=extra)


def _prompt_ref(info: Any) -> tuple[str | None, str | None]:
    tags = info.tags or {}
    if tags.get(PROMPT_NAME_TAG):
        return tags[PROMPT_NAME_TAG], tags.get(PROMPT_VERSION_TAG) or None
    try:  # prompts MLflow linked to the trace (mlflow.genai.load_prompt inside a trace)
        linked = json.loads(tags.get("mlflow.linkedPrompts", "[]"))
    except ValueError:
        linked = []
    if linked:
        return linked[0].get("name"), str(linked[0].get("version")) if linked[0].get("version") else None
    return None, None


def trace_to_trajectory(trace: Any, *, feedback_name: str | None = None) -> Trajectory | None:
    """One MLflow ``Trace`` as a Trajectory (None if it holds no conversation)."""
    info = trace.info
    root = next((s for s in trace.data.spans if s.parent_id is None), None) if trace.data else None
    inputs, outputs = (root.inputs, root.outputs) if root is not None else (None, None)
    if inputs is None and outputs is None:  # spans not stored: MLflow keeps the root I/O in metadata
        inputs = json.loads(info.trace_metadata.get("mlflow.traceInputs", "null"))
        outputs = json.loads(info.trace_metadata.get("mlflow.traceOutputs", "null"))
    messages = _messages(inputs, outputs)
    if not messages:
        return None
    chosen, usable = _pick_feedback(list(info.assessments or []), feedback_name)
    name, version = _prompt_ref(info)
    metadata = info.trace_metadata or {}
    return Trajectory(
        id=info.trace_id, messages=messages, feedback=_feedback(chosen, usable) if chosen else None,
        prompt_name=name, prompt_version=version, user=metadata.get("mlflow.trace.user"),
        thread=metadata.get("mlflow.trace.session"),
        time=datetime.fromtimestamp(info.request_time / 1000, tz=UTC) if info.request_time else None,
        metadata={"trace_id": info.trace_id, "source": "mlflow-trace",
                  **{key: (info.tags or {})[tag] for key, tag in (("prompt_source", PROMPT_SOURCE_TAG),
                                                                  ("canary_arm", CANARY_ARM_TAG))
                     if (info.tags or {}).get(tag)}})


def traces_to_dataset(experiment: str | None = None, *, tracking_uri: str | None = None,
                      filter_string: str | None = None, feedback_name: str | None = None,
                      with_feedback_only: bool = True, max_traces: int = 1000,
                      name: str | None = None, prompt: str | None = None) -> TrajectoryDataset:
    """Trajectories from the traces of an MLflow experiment (by name or id), newest first.

    ``filter_string`` is MLflow's trace filter (e.g. ``"tags.`engram.prompt_name` = 'support'"``);
    ``prompt="support/3"`` keeps the traces linked to that version (MLflow's ``prompt =`` filter,
    which the links made by :func:`engram.load_prompt` and ``mlflow.genai.load_prompt`` feed).
    """
    if prompt is not None:
        link = f'prompt = "{prompt}"'
        filter_string = f"{filter_string} AND {link}" if filter_string else link
    uri = resolve_uri(tracking_uri)
    client = mlflow_client(uri)
    with mlflow_errors(uri, "reading traces"):
        if experiment is None:
            found = client.get_experiment_by_name("Default")
        else:
            found = client.get_experiment_by_name(experiment) or _by_id(client, experiment)
        if found is None:
            known = [e.name for e in client.search_experiments()]
            raise NotFoundError(f"No MLflow experiment '{experiment}' at {uri}; experiments: {', '.join(known)}.")
        trajectories: list[Trajectory] = []
        token = None
        while len(trajectories) < max_traces:
            page = client.search_traces(locations=[found.experiment_id], filter_string=filter_string,
                                        max_results=min(500, max_traces), order_by=["timestamp_ms DESC"],
                                        page_token=token)
            for trace in page:
                trajectory = trace_to_trajectory(trace, feedback_name=feedback_name)
                if trajectory is None or (with_feedback_only and trajectory.feedback is None):
                    continue
                trajectories.append(trajectory)
                if len(trajectories) >= max_traces:
                    break
            token = getattr(page, "token", None)
            if not token:
                break
    return TrajectoryDataset(trajectories, name=name or f"mlflow:{found.name}")


def _by_id(client: Any, experiment_id: str):
    try:
        return client.get_experiment(experiment_id)
    except Exception:  # not an id either
        return None
