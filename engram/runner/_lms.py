"""The LMs of a run: names per role, built once, and checked usable before any work starts.

An LM that cannot work (no API key for its provider, a provider LiteLLM does not know)
would otherwise fail on every call of every trajectory, with retries and a warning each
time. :func:`resolve_lms` finds that out without a network call (LiteLLM's own
environment check) and raises one :class:`engram.errors.LMError` naming the variable to
set; the failures a check cannot see (a wrong key, an unknown model) are caught by the
steps' consecutive-failure limit (``budget.max_consecutive_failures``)::

    names, lms = resolve_lms(config)     # {"task": "offline/support", ...}, {"task": dspy.LM, ...}
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

from engram.errors import ConfigurationError, LMError
from engram.lm import OFFLINE_PREFIX

if TYPE_CHECKING:
    from engram.runner._config import ExperimentConfig

Role = Literal["task", "reflection", "judge"]
ROLES: tuple[Role, ...] = ("task", "reflection", "judge")
# Error types that mean "this LM will never work here" (as LiteLLM / DSPy name them): one is enough.
FATAL_LM_ERRORS = ("LMNotConfiguredError", "no API key found", "Missing credentials", "AuthenticationError",
                   "PermissionDeniedError", "NotFoundError: litellm", "LLM Provider NOT provided",
                   "invalid_api_key")


def resolve_lms(config: ExperimentConfig) -> tuple[dict[str, str | None], dict[str, Any]]:
    """LM names per role (config, else settings / env) and the built ``dspy.LM`` objects."""
    from engram.lm import build_lm

    names: dict[str, str | None] = {role: config.lms.resolved(role) for role in ROLES}
    built: dict[str, Any] = {}
    needs_lm = (config.memory.enabled or config.compile.enabled
                or (config.prompt is not None and config.prompt.enabled))
    for role, name in names.items():
        if name is None:
            if needs_lm:
                raise config.error(("lms", role), f"no {role} LM: set lms.{role} in the config or "
                                                  f"ENGRAM_LM (offline: ENGRAM_LM=offline/support)")
            continue
        try:
            built[role] = build_lm(name)
        except ConfigurationError as err:
            raise config.error(("lms", role), f"{err}") from None
        if needs_lm:
            check_usable(built[role], role)
    return names, built


def check_usable(lm: Any, role: str) -> None:
    """Raise :class:`LMError` if a LiteLLM model has no provider or no API key (no network call)."""
    model = getattr(lm, "model", None)
    if not isinstance(model, str) or model.startswith(OFFLINE_PREFIX) or getattr(lm, "kwargs", {}).get("api_key"):
        return
    import litellm

    try:
        litellm.get_llm_provider(model)
    except Exception:  # noqa: BLE001  (LiteLLM raises BadRequestError with a long help text)
        raise LMError(f"the {role} LM {model!r} names no provider LiteLLM knows; write it as "
                      f"'<provider>/<model>' (e.g. openai/gpt-4o-mini) in lms.{role} or ENGRAM_LM") from None
    missing = [key for key in litellm.validate_environment(model=model).get("missing_keys", [])
               if key.endswith("_KEY") and not os.environ.get(key)]
    if missing:
        raise LMError(f"the {role} LM {model!r} needs {' and '.join(missing)}; set it in the environment "
                      f"(or use an offline stand-in: ENGRAM_LM=offline/support)")


def is_fatal(error: str) -> bool:
    """True when an LM error message says the model can never answer (auth, unknown model, no key)."""
    return any(marker in error for marker in FATAL_LM_ERRORS)
