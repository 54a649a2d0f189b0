"""The simulated world's memory behaviour (stand-in, not a model).

Registers handlers for the memory modules' signatures (:mod:`engram.modules._signatures`):

- extraction (``conversation, memories -> ops``): reads the facts simulated users state
  about themselves ("Hi, I'm Maya from Lisbon.", "I'm on the Pro plan and I use the iOS
  app.", "I prefer email if you need to reach me.") plus a few common phrasings ("I moved
  to X", "I'm vegetarian"), and answers with insert / update operations as JSON Lines,
  deterministically: a fact already listed is skipped, a changed one updates its memory,
  each with the quote it came from. Memory texts are the users' ``fact_sentences``, so
  extracted memories can be compared with ``SimUser.fact_sentences`` (ground truth);
- extraction into declared kinds (a profile, custom schemas): :mod:`engram.testing._sim_schemas`;
- the corrective call (``... refused -> ops``): drops the refused operations;
- query writing (``conversation -> queries``): one query per stated fact;
- summaries (``-> title, summary`` and ``summary, messages -> new_summary``).

Imported by the world on first use (``engram.testing._handlers.PLUGIN_MODULES``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from engram.testing._handlers import register_handler
from engram.testing._protocol import ParsedCall
from engram.testing._sim_schemas import Fact, declared_kinds, structured_ops

# (attribute, pattern, sentence template); the first group is the value, or groups by name
_NAME = r"(?P<v>[A-Z][^\W\d_]+)"
_CITY = r"(?P<v>[A-Z][^\W\d_]+(?: [A-Z][^\W\d_]+)?)"
_PATTERNS: list[tuple[str, re.Pattern[str], str]] = [
    # self-introductions, in the ways people write them ("Hi, I'm Mei from Lyon", "Samuel here", ...)
    ("name", re.compile(r"\bI'm (?P<v>[A-Z][\w]*(?: \d+)?) from\b"), "The user's name is {v}."),
    ("name", re.compile(r"\b(?:my name is|this is|it's) " + _NAME + r"\b"), "The user's name is {v}."),
    ("name", re.compile(r"^(?:Hi|Hello|Hey)[,!]? " + _NAME + r"(?: here\b| from\b)"), "The user's name is {v}."),
    ("city", re.compile(r"\bI'm [A-Z][\w]*(?: \d+)? from (?P<v>[A-Z][\w ]*?)[.,!]"), "The user lives in {v}."),
    ("city", re.compile(r"\b(?:writing|here) from " + _CITY + r"[.,!]"), "The user lives in {v}."),
    ("city", re.compile(r"^(?:Hi|Hello|Hey)[,!]? [A-Z]\w+ from " + _CITY + r"[.,!]"), "The user lives in {v}."),
    ("city", re.compile(r"\b(?:Hello|Hi) from " + _CITY + r"[.,!]"), "The user lives in {v}."),
    ("city", re.compile(r"\bit's [A-Z]\w+ in " + _CITY + r"[.,!]"), "The user lives in {v}."),
    ("city", re.compile(r"\bI (?:just )?(?:moved|relocated) to (?P<v>[A-Z][\w]*)"), "The user lives in {v}."),
    ("city", re.compile(r"\bI live in (?P<v>[A-Z][\w]*)"), "The user lives in {v}."),
    ("plan", re.compile(r"\b(?:I'm )?on the (?P<v>Free|Basic|Pro|Business|\w+) plan\b"), "The user is on the {v} plan."),
    ("plan", re.compile(r"\b(?:I'm )?on (?P<v>Free|Basic|Pro|Business)\b"), "The user is on the {v} plan."),
    ("product", re.compile(r"\bI use (?P<v>the [\w ]+?(?:app|dashboard))\b"), "The user uses {v}."),
    ("product", re.compile(r"\b(?P<v>[Tt]he (?:iOS|Android|desktop) app|[Tt]he web dashboard)\b"),
     "The user uses {v}."),
    ("contact", re.compile(r"\bI prefer (?P<v>email|phone|chat|text message) if you need to reach me"),
     "The user prefers {v} for contact."),
    ("contact", re.compile(r"\b(?:[Cc]ontact me|[Rr]each me|write to me|answer|[Ss]end updates|I prefer) (?:by )?"
                           r"(?P<v>email|phone|chat|text message)\b"), "The user prefers {v} for contact."),
    ("diet", re.compile(r"\bI'm (?P<v>vegetarian|vegan)\b"), "The user is {v}."),
    ("language", re.compile(r"\bswitched from \w+ to (?P<v>[A-Z][\w+#]*)"), "The user mostly codes in {v}."),
]
_LISTED = re.compile(r"^(?P<id>\d+)\. (?:Memory )?(?P<text>.*)$")  # "Memory " when several kinds are listed


def user_text(conversation: str) -> list[str]:
    """The user's turns in a rendered transcript (``user: ...`` lines)."""
    return [line[len("user: "):] for line in (conversation or "").splitlines() if line.startswith("user: ")]


def stated_facts(conversation: str) -> list[tuple[str, str, str]]:
    """(attribute, memory sentence, quote) for every fact the user states, latest value last."""
    facts: list[tuple[str, str, str]] = []
    for turn in user_text(conversation):
        for attribute, pattern, template in _PATTERNS:
            for match in pattern.finditer(turn):
                value = match.group("v").strip()
                facts.append((attribute, template.format(v=value), match.group(0).strip()))
    return facts


def _attribute_of(text: str) -> str | None:
    for attribute, _, template in _PATTERNS:
        head = template.split("{v}")[0]
        if text.startswith(head):
            return attribute
    return None


def latest_facts(conversation: str) -> list[Fact]:
    """The facts the user states, as :class:`~engram.testing._sim_schemas.Fact`, latest per attribute."""
    latest: dict[str, Fact] = {}
    for turn in user_text(conversation):
        for attribute, pattern, template in _PATTERNS:
            for match in pattern.finditer(turn):
                value = match.group("v").strip()
                predicate = template.split("{v}")[0].removeprefix("The user's ").removeprefix("The user ").strip()
                latest[attribute] = Fact(attribute, template.format(v=value), match.group(0).strip(), value, predicate)
    return list(latest.values())


def extract(call: ParsedCall, world: Any = None) -> dict[str, str]:
    kinds = declared_kinds(call.instructions)
    if kinds:  # the request declares memory kinds: fill them (engram.testing._sim_schemas)
        return structured_ops(call, kinds, latest_facts(call.inputs.get("conversation", "")), _attribute_of)
    listed: dict[str, str] = {}
    for line in (call.inputs.get("memories") or "").splitlines():
        m = _LISTED.match(line.strip())
        if m:
            listed[m.group("id")] = m.group("text")
    by_attribute = {a: i for i, t in listed.items() if (a := _attribute_of(t))}
    latest: dict[str, tuple[str, str]] = {}
    for attribute, sentence, quote in stated_facts(call.inputs.get("conversation", "")):
        latest[attribute] = (sentence, quote)  # a later statement wins
    ops = []
    for attribute, (sentence, quote) in latest.items():
        if sentence in listed.values():
            continue
        if attribute in by_attribute:
            ops.append({"op": "update", "id": int(by_attribute[attribute]), "content": sentence, "quote": quote})
        else:
            ops.append({"op": "insert", "content": sentence, "quote": quote})
    return {"ops": "\n".join(json.dumps(op) for op in ops)}


def queries(call: ParsedCall, world: Any = None) -> dict[str, str]:
    found = [sentence.removeprefix("The user ").rstrip(".") for _, sentence, _ in
             stated_facts(call.inputs.get("conversation", ""))]
    turns = user_text(call.inputs.get("conversation", ""))
    return {"queries": "\n".join(dict.fromkeys(found or turns[-1:]))}


def summarize(call: ParsedCall, world: Any = None) -> dict[str, str]:
    turns = user_text(call.inputs.get("conversation", ""))
    first = " ".join((turns[0] if turns else "Conversation").split()[:6])
    facts = " ".join(sentence for _, sentence, _ in stated_facts(call.inputs.get("conversation", "")))
    return {"title": first, "summary": (facts + " " if facts else "") + f"{len(turns)} user messages."}


def running_summary(call: ParsedCall, world: Any = None) -> dict[str, str]:
    text = call.inputs.get("messages", "")
    facts = [sentence for _, sentence, _ in stated_facts(text)]
    old = call.inputs.get("summary", "").strip()
    new = " ".join(part for part in [old, *facts, f"({len(user_text(text))} more user messages.)"] if part)
    return {"new_summary": new}


register_handler("memory-fix", lambda c: "ops" in c.output_fields and "refused" in c.inputs,
                 lambda c, w: {"ops": ""})
register_handler("memory-extract", lambda c: "ops" in c.output_fields and "conversation" in c.inputs, extract)
register_handler("memory-queries", lambda c: list(c.output_fields) == ["queries"] and "conversation" in c.inputs,
                 queries)
register_handler("thread-summary", lambda c: set(c.output_fields) == {"title", "summary"}, summarize)
register_handler("running-summary", lambda c: "new_summary" in c.output_fields, running_summary)
