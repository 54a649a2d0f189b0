"""Checks of what callers hand the tracking entry points, before anything is read or written.

Each failure is a :class:`~engram.errors.ValidationError` naming the argument, what was
wrong with it and how to fix it, so a bad call never reaches MLflow::

    check_name("support")          # 'support'
    check_name("")                 # ValidationError: the prompt name is empty ...
"""

from __future__ import annotations

import math
import re
from typing import Any

from engram.errors import ValidationError
from engram.prompts import PROMPT_NAME

# MLflow's prompt names (PROMPT_NAME, which Prompt checks too): '/' and '@' would break references.
_ALIAS = re.compile(r"^[A-Za-z0-9_\-]{1,255}$")
_TAG_KEY = re.compile(r"^[A-Za-z0-9_.\-/ :]{1,250}$")
MAX_TAG_VALUE = 5000


def check_name(name: Any, what: str = "prompt name") -> str:
    """``name`` if it is a usable prompt name, else a ValidationError saying how to write one."""
    if not isinstance(name, str):
        raise ValidationError(f"The {what} must be text like 'support', got {type(name).__name__} {name!r}.")
    if not name.strip():
        raise ValidationError(f"The {what} is empty; pass a name like 'support'.")
    if not PROMPT_NAME.fullmatch(name):
        raise ValidationError(f"Invalid {what} {name!r}: start with a letter or digit and use only letters, "
                              "digits, '-', '_' and '.' (at most 255 characters), e.g. 'support-bot'.")
    return name


def check_ref(ref: Any, what: str = "prompt reference") -> str:
    """A reference ``name``, ``name/3``, ``name@alias`` or ``prompts:/...`` (text, non-empty)."""
    if not isinstance(ref, str):
        raise ValidationError(f"The {what} must be text like 'support@production' or 'support/3', "
                              f"got {type(ref).__name__} {ref!r}.")
    if not ref.strip():
        raise ValidationError(f"The {what} is empty; write 'name', 'name/3' or 'name@alias'.")
    return ref


def check_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        raise ValidationError(f"Invalid alias {alias!r}: use letters, digits, '_' and '-', e.g. 'production'.")
    if alias.lower() == "latest" or re.fullmatch(r"v\d+", alias, re.IGNORECASE):
        raise ValidationError(f"The alias '{alias}' is reserved by MLflow; choose another name, e.g. "
                              "'production' or 'staging'.")
    return alias


def check_version(version: Any) -> int:
    """A positive version number from an int or its text."""
    if isinstance(version, bool) or not isinstance(version, (int, str)):
        raise ValidationError(f"A version must be a whole number like 3, got {type(version).__name__} {version!r}.")
    text = str(version).strip()
    if not text.isdigit() or int(text) < 1:
        raise ValidationError(f"A version must be a whole number of 1 or more, like 3; got {version!r}.")
    return int(text)


def check_tags(tags: Any) -> dict[str, Any]:
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise ValidationError(f"tags must be a dict of text keys to values, got {type(tags).__name__}.")
    for key, value in tags.items():
        if not isinstance(key, str) or not _TAG_KEY.fullmatch(key):
            raise ValidationError(f"Invalid tag key {key!r}: use text of letters, digits and '_-./: '.")
        if key.startswith("mlflow."):
            raise ValidationError(f"The tag key {key!r} is reserved for MLflow; drop the 'mlflow.' prefix.")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(f"Tag {key!r} is {value}; store a finite number or text.")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise ValidationError(f"Tag {key!r} holds a {type(value).__name__}; tag values are text, numbers "
                                  "or booleans (json.dumps a structure first).")
        if isinstance(value, str) and len(value) > MAX_TAG_VALUE:
            raise ValidationError(f"Tag {key!r} is {len(value)} characters; MLflow keeps at most "
                                  f"{MAX_TAG_VALUE}. Log long text as a run artifact instead.")
    return tags


def check_optional_text(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"{what} must be text or None, got {type(value).__name__} {value!r}.")
    return value


def check_lm_config(config: Any) -> dict[str, Any] | None:
    """An ``lm_config`` dict MLflow will accept (validated by MLflow's own PromptModelConfig)."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise ValidationError(f"lm_config must be a dict like {{'model_name': 'gpt-4o-mini', 'temperature': "
                              f"0.2}}, got {type(config).__name__}.")
    from mlflow.entities.model_registry import PromptModelConfig

    fields = {k: v for k, v in config.items() if k != "response_format"}
    try:
        PromptModelConfig.from_dict(fields)
    except Exception as err:  # noqa: BLE001  (MLflow raises ValueError / MlflowException / TypeError)
        detail = "; ".join(line.strip() for line in str(err).splitlines()[1:3]) or str(err)
        raise ValidationError(f"lm_config is not a valid model configuration ({detail}). Known keys: provider, "
                              "model_name, temperature, max_tokens, top_p, top_k, frequency_penalty, "
                              "presence_penalty, stop_sequences, extra_params, response_format.") from None
    fmt = config.get("response_format")
    if fmt is not None and not isinstance(fmt, dict):
        raise ValidationError("lm_config['response_format'] must be a JSON schema dict.")
    return config


def stored_lm_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """``config`` as MLflow hands it back (defaults filled), to compare with a stored version."""
    if not config:
        return None
    from mlflow.entities.model_registry import PromptModelConfig

    fields = {k: v for k, v in config.items() if k != "response_format"}
    out = PromptModelConfig.from_dict(fields).to_dict() if fields else {}
    if config.get("response_format") is not None:
        out["response_format"] = config["response_format"]
    return out or None
