"""The response traits of the simulated world (stand-in, not a model).

A trait is one thing a simulated user may want from a support answer. Each trait has

- ``instruction``: the sentence that asks for it in a system prompt (what an optimizer should learn),
- ``keywords``: phrases that switch it on when the task model finds them in its prompt,
- ``detect(response)``: whether a response shows it,
- ``complaints`` / ``praise``: what a user writes when it is missing / present.

Hidden user preferences are subsets of these traits. The phrases are chosen so that no
trait's instruction activates another trait and no praise phrase contains a complaint::

    from engram.testing._traits import TRAITS, activated_traits
    activated_traits("Write any instructions as numbered steps.")   # ('numbered_steps',)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# The verbose filler the task model writes when it is not asked to be concise; the
# concise detector looks for it, so it lives here beside the trait that forbids it.
FILLER_OPENING = ("Thank you for reaching out to our support team. I completely understand how important "
                  "this is, and I am happy to help you with it today.")
FILLER_CLOSING = ("Please note that the exact experience can vary depending on your account settings, your "
                  "device and your region, and there may be additional considerations that apply to your "
                  "particular situation. If you have any other questions, feel free to reach out to us "
                  "at any time.")
CONCISE_MAX_WORDS = 90
HELP_CENTER = "https://help.example.com/articles/"
TICKET_PATTERN = re.compile(r"\bTKT-\d{5}\b")
_NUMBERED = re.compile(r"(?m)^\s*1[.)]\s+\S[\s\S]*^\s*2[.)]\s+\S")
_NEGATION = re.compile(r"\b(?:do not|don't|never|avoid|no need to|without)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Trait:
    """One preference a simulated user may hold (see the module docstring)."""

    name: str
    instruction: str
    keywords: tuple[str, ...]
    detect: Callable[[str], bool]
    complaints: tuple[str, ...]
    praise: tuple[str, ...]

    def __repr__(self) -> str:
        return f"Trait({self.name!r})"


def _concise(response: str) -> bool:
    return (FILLER_OPENING[:40] not in response and FILLER_CLOSING[:40] not in response
            and len(response.split()) <= CONCISE_MAX_WORDS)


def _last_line(response: str) -> str:
    lines = [line.strip() for line in response.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


TRAITS: tuple[Trait, ...] = (
    Trait("concise",
          "Be concise: answer in a few short sentences with no filler.",
          ("concise", "no filler"),
          _concise,
          ("way too long", "too much filler", "too wordy"),
          ("short and to the point", "nice and brief")),
    Trait("numbered_steps",
          "Write any instructions as numbered steps.",
          ("numbered steps", "numbered list", "number the steps"),
          lambda r: bool(_NUMBERED.search(r)),
          ("i wanted numbered steps", "hard to follow without steps", "a wall of text"),
          ("the numbered steps were easy to follow", "loved the step list")),
    Trait("apology",
          "Start with a short apology when the customer reports a problem.",
          ("apology", "apologize", "apologise"),
          lambda r: bool(re.search(r"\b(sorry|apologi[sz]e)", r, re.IGNORECASE)),
          ("no apology at all", "didn't even say sorry"),
          ("thanks for apologizing", "appreciated the apology")),
    Trait("ticket",
          "Give the customer a ticket reference number (TKT-12345) for their request.",
          ("ticket reference", "ticket number", "reference number"),
          lambda r: bool(TICKET_PATTERN.search(r)),
          ("no ticket number", "i need a reference number to track this"),
          ("glad to get a ticket reference", "the reference code helps")),
    Trait("docs_link",
          "Include a link to the matching help-center article.",
          ("help-center", "help center", "documentation link", "link to the docs"),
          lambda r: HELP_CENTER in r,
          ("no link to the docs", "where is the help article?"),
          ("the help link was useful", "thanks for the article")),
    Trait("follow_up",
          "End by asking whether this solved the problem.",
          ("solved the problem", "follow-up question", "follow up question", "check back"),
          lambda r: _last_line(r).endswith("?"),
          ("nobody asked if that fixed it", "didn't check whether it worked"),
          ("nice that you checked in", "good follow-up")),
)

TRAITS_BY_NAME: dict[str, Trait] = {t.name: t for t in TRAITS}
TRAIT_NAMES: tuple[str, ...] = tuple(TRAITS_BY_NAME)


def get_trait(name: str) -> Trait:
    """The trait called ``name``; raises ``KeyError`` naming the known traits."""
    try:
        return TRAITS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown trait {name!r}; known traits: {', '.join(TRAIT_NAMES)}") from None


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower().replace("’", "'"))


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?\n])\s+", _norm(text)) if s.strip()]


def activated_traits(prompt: str) -> tuple[str, ...]:
    """Traits a prompt asks for: a keyword in a sentence that does not negate it ("do not apologize")."""
    found = set()
    for sentence in _sentences(prompt or ""):
        if _NEGATION.search(sentence):
            continue
        for trait in TRAITS:
            if any(k in sentence for k in trait.keywords):
                found.add(trait.name)
    return tuple(t for t in TRAIT_NAMES if t in found)


def complained_traits(text: str) -> tuple[str, ...]:
    """Traits whose complaint phrases appear in ``text`` (feedback comments, critiques)."""
    norm = _norm(text or "")
    return tuple(t.name for t in TRAITS if any(c in norm for c in t.complaints))


def instructed_traits(text: str) -> tuple[str, ...]:
    """Traits whose instruction sentence appears verbatim in ``text`` (e.g. in recommendations)."""
    norm = _norm(text or "")
    return tuple(t.name for t in TRAITS if _norm(t.instruction).rstrip(".") in norm)


def satisfied_traits(response: str, traits: Iterable[str] = TRAIT_NAMES) -> tuple[str, ...]:
    """The given traits that ``response`` shows."""
    return tuple(name for name in traits if get_trait(name).detect(response or ""))
