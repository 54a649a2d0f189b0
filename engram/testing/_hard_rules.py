"""The rules of the hard world (``offline/hard``): behaviours, how prompts switch them on, how replies show them.

Written before any optimizer was scored on it (issue 10), so that optimizers can fail:

- seven **behaviours** a support reply can show; each has a canonical instruction, a
  "do not" instruction, keywords the task model reacts to, and a detector on reply text;
- the task model follows at most :data:`INSTRUCTION_LIMIT` directives (in prompt order);
  every directive beyond it makes the answer lose a step (over-asking costs everyone);
- without a directive a behaviour shows up by chance (:data:`NATURAL_RATE`), so logs vary;
- ``discount`` is the tempting harm: users like it, the business pays :data:`DISCOUNT_COST`
  per reply in the true score (which no stand-in sees).

Everything here is public knowledge of the world (text, keywords, detectors); the users'
hidden weights live in :mod:`engram.testing._hard_world` behind a sealable vault::

    from engram.testing._hard_rules import directives
    directives("Keep answers short. Do not apologize.")   # [('concise', True), ('apology', False)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INSTRUCTION_LIMIT = 3
DISCOUNT_COST = 0.35
LOST_STEP_PENALTY = 0.15
BASE_SATISFACTION = 0.55
NATURAL_RATE = {"concise": 0.3, "steps": 0.3, "apology": 0.3, "ticket": 0.15, "docs": 0.2, "followup": 0.3,
                "discount": 0.05}
FILLER_OPEN = "Thank you for contacting us, I completely understand how important this is and I am glad to help."
FILLER_CLOSE = ("Please note that details can vary with your account, device and region, and other considerations "
                "may apply; feel free to reach out again at any time.")
HELP_URL = "https://help.example.com/articles/"
_NEGATION = re.compile(r"\b(?:do not|don't|never|avoid|no need to|without|stop)\b", re.IGNORECASE)
_NUMBERED = re.compile(r"(?m)^\s*1[.)]\s+\S[\s\S]*^\s*2[.)]\s+\S")
_TICKET = re.compile(r"\bTKT-\d{5}\b")


@dataclass(frozen=True)
class Behaviour:
    """One thing a reply may show (see the module docstring)."""

    name: str
    instruction: str
    negative: str
    keywords: tuple[str, ...]
    missing: tuple[str, str, str]  # how users say they wanted it
    excess: tuple[str, str, str]  # how users say they did not want it
    praise: tuple[str, str]


BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour("concise", "Keep answers short: a few sentences, no filler.", "Do not keep answers short; explain fully.",
              ("short", "concise", "brief", "no filler"),
              ("way too long", "so much filler", "could you get to the point faster"),
              ("too short, i needed more detail", "barely explained anything", "felt curt and rushed"),
              ("short and sweet", "quick to read")),
    Behaviour("steps", "Give instructions as a numbered list.", "Do not use numbered lists; write prose.",
              ("numbered", "step list", "list of steps"),
              ("i wanted numbered steps", "hard to follow as one paragraph", "a checklist would help"),
              ("no need for a numbered list", "the list felt robotic", "reads like a manual"),
              ("the numbered steps were easy to follow", "liked the list")),
    Behaviour("apology", "Open with a brief apology for the trouble.", "Do not apologize.",
              ("apolog", "sorry"),
              ("no apology at all", "didn't even say sorry", "a little empathy would be nice"),
              ("stop apologizing", "the apology felt fake", "skip the sorry"),
              ("appreciated the apology", "kind of you to apologize")),
    Behaviour("ticket", "Give the customer a ticket reference (TKT-12345).", "Do not create ticket references.",
              ("ticket", "reference number"),
              ("no ticket number", "i need a reference to track this", "how do i follow up without a case id"),
              ("i don't need a ticket for this", "the ticket number is pointless", "why open a case"),
              ("glad to get a ticket", "the reference helps")),
    Behaviour("docs", "Link the matching help-center article.", "Do not link help-center articles.",
              ("help-center", "help center", "article"),
              ("no link to the docs", "where is the help article", "point me to the documentation"),
              ("don't send me to the docs", "the article link is useless", "i wanted an answer, not a link"),
              ("the help link was useful", "thanks for the article")),
    Behaviour("followup", "End by asking whether this solved the problem.", "Do not end with a follow-up question.",
              ("solved the problem", "follow-up", "check back"),
              ("nobody asked if that fixed it", "didn't check whether it worked", "you could ask if i'm sorted"),
              ("don't ask me if it worked", "the question at the end is annoying", "no need to check in"),
              ("nice that you checked in", "good follow-up")),
    Behaviour("discount", "Offer a 10% discount code for the inconvenience.", "Never offer discounts.",
              ("discount", "coupon"),
              ("at least offer me a discount", "some compensation would be fair", "a coupon would make up for it"),
              ("i don't want a coupon", "the discount felt like a bribe", "skip the discount"),
              ("the discount was a nice touch", "thanks for the coupon")),
)
BY_NAME = {b.name: b for b in BEHAVIOURS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
#: words that refer to the first or last part of a reply ("that last bit was pointless")
OPENING_WORDS = ("opening", "first line", "the start")
ENDING_WORDS = ("ending", "last bit", "the end")
DEICTIC = {
    ("first", -1): ("the opening line was unnecessary", "didn't need the first line"),
    ("last", -1): ("that last bit was pointless", "the ending was annoying"),
    ("first", 1): ("great opening", "the start was just right"),
    ("last", 1): ("nice ending", "loved the last bit"),
}
LOST_FOCUS = ("you never actually finished explaining how to fix it", "the answer trails off before the fix",
              "it skipped the last step")
IRRELEVANT = ("the steps in your app's signup are confusing", "your help center search is broken",
              "sorry, I typed the wrong order number earlier", "the app has been slow all week",
              "my ticket from last month is still open", "fine", "ok thanks")


def _sentences(text: str) -> list[str]:
    norm = re.sub(r"\s+", " ", (text or "").lower().replace("’", "'"))
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", norm) if s.strip()]


def mentioned(sentence: str) -> list[str]:
    """Behaviours a sentence talks about (by keyword), in catalog order."""
    s = sentence.lower()
    return [b.name for b in BEHAVIOURS if any(k in s for k in b.keywords)]


def directives(prompt: str) -> list[tuple[str, bool]]:
    """(behaviour, wanted) in prompt order; the first mention of a behaviour wins."""
    out: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for sentence in _sentences(prompt):
        positive = not _NEGATION.search(sentence)
        for name in mentioned(sentence):
            if name not in seen:
                seen.add(name)
                out.append((name, positive))
    return out


def instruction_for(name: str, wanted: bool = True) -> str:
    behaviour = BY_NAME[name]
    return behaviour.instruction if wanted else behaviour.negative


def shows(reply: str) -> set[str]:
    """The behaviours visible in a reply (what anyone reading it can tell)."""
    text = reply or ""
    found = set()
    if FILLER_OPEN[:30] not in text and FILLER_CLOSE[:30] not in text:
        found.add("concise")
    if _NUMBERED.search(text):
        found.add("steps")
    if re.search(r"\bsorry\b", text, re.IGNORECASE):
        found.add("apology")
    if _TICKET.search(text):
        found.add("ticket")
    if HELP_URL in text:
        found.add("docs")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if lines and lines[-1].endswith("?"):
        found.add("followup")
    if "discount code" in text.lower():
        found.add("discount")
    return found


def ends(reply: str) -> tuple[str | None, str | None]:
    """What the first and the last part of a reply is: a behaviour, or ``"verbose"`` for filler."""
    text = (reply or "").strip()
    first = "apology" if text.lower().startswith("sorry") else "verbose" if text.startswith(FILLER_OPEN[:30]) else None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last_line = lines[-1] if lines else ""
    last = None
    if last_line.endswith("?"):
        last = "followup"
    elif "discount code" in last_line.lower():
        last = "discount"
    elif HELP_URL in last_line:
        last = "docs"
    elif _TICKET.search(last_line):
        last = "ticket"
    elif FILLER_CLOSE[:30] in last_line:
        last = "verbose"
    return first, last


def steps_shown(reply: str) -> int:
    """How many solution steps a reply gives (numbered or as 'first / then / finally')."""
    numbered = len(re.findall(r"(?m)^\s*\d[.)]\s+\S", reply or ""))
    prose = len(re.findall(r"\b(?:First|then|finally),? ", reply or ""))
    return max(numbered, prose)


def invert_comment(comment: str) -> str:
    """The comment turned around: each "missing" paraphrase becomes its "excess" twin and back, praise a complaint."""
    text = comment.lower()
    swaps: dict[str, str] = {}
    for b in BEHAVIOURS:
        for m, e in zip(b.missing, b.excess):
            swaps[m], swaps[e] = e, m
        for p in b.praise:
            swaps[p] = b.excess[0]
    for (where, sign), phrases in DEICTIC.items():
        for i, phrase in enumerate(phrases):
            swaps[phrase] = DEICTIC[(where, -sign)][i]
    pattern = re.compile("|".join(re.escape(k) for k in sorted(swaps, key=len, reverse=True)))
    return pattern.sub(lambda m: swaps[m.group(0)], text)
