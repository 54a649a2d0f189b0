"""Template safety: a new prompt keeps every variable of the original, or it is rejected.

A candidate written by an LM is checked before anything else sees it:

- it is not empty, and a chat template keeps its ``[role]`` blocks;
- it has exactly the original's variables, in either ``{var}`` or ``{{var}}`` style
  (dropping ``{company}`` would break the code that fills the template; inventing
  ``{tone}`` would raise a KeyError at format time).

A failing candidate is retried once, with the problem spelled out in the guidance (which
also changes the request, so an LM cache cannot hand back the same answer); a second
failure rejects it and the optimizer returns the original.

Example::

    outcome = propose_guarded(prompt, lambda guidance: writer(guidance))
    outcome.prompt or prompt      # None when rejected; outcome.reasons says why
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engram.errors import TemplateError
from engram.optimizers._formatting import parse_prompt_text
from engram.prompts import Prompt, find_variables

MAX_ATTEMPTS = 2  # the first try and one retry


def check_candidate(original: Prompt, text: str | None) -> Prompt:
    """The candidate as a Prompt, or :class:`TemplateError` saying what is wrong with it."""
    if text is None or not str(text).strip():
        raise TemplateError("The LM returned an empty prompt; engram never replaces a prompt with nothing.")
    try:
        template = parse_prompt_text(original, str(text))
    except ValueError as err:
        raise TemplateError(f"The LM's prompt does not keep the chat template's shape: {err}.") from err
    if isinstance(template, str) and not template.strip():
        raise TemplateError("The LM returned an empty prompt; engram never replaces a prompt with nothing.")
    return original.with_template(template)  # raises TemplateError on lost / invented variables


def retry_note(original: Prompt, reason: str) -> str:
    """Guidance added to the retry: what went wrong and which variables must appear."""
    names = find_variables(original.template)
    keep = ", ".join("{" + v + "}" for v in names) if names else "no {variables}"
    return f"Your previous draft was rejected: {reason} Write the full prompt again, with exactly {keep}."


@dataclass
class GuardOutcome:
    """What the guarded proposal produced: a valid prompt or None, and why each attempt failed."""

    prompt: Prompt | None
    attempts: int = 0
    reasons: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return self.prompt is None


def propose_guarded(original: Prompt, produce: Callable[[str], str], *, guidance: str = "",
                    attempts: int = MAX_ATTEMPTS) -> GuardOutcome:
    """Call ``produce(guidance)`` until it returns a valid template, at most ``attempts`` times.

    ``produce`` gets the guidance text (with a retry note appended after a failure) and
    returns the LM's prompt text. LM errors are not caught here: the optimizer records them.
    """
    outcome = GuardOutcome(prompt=None)
    note = guidance
    for _ in range(attempts):
        outcome.attempts += 1
        text = produce(note)
        outcome.raw.append("" if text is None else str(text))
        try:
            outcome.prompt = check_candidate(original, text)
            return outcome
        except TemplateError as err:
            outcome.reasons.append(str(err))
            note = (guidance + "\n" if guidance and guidance != "none" else "") + retry_note(original, str(err))
    return outcome
