"""A simulated user who keeps restating and changing facts, and the stand-ins that compact memory.

Stand-ins, not models. :class:`CompactionWorld` generates ``updates`` one-message
conversations from one user: facts ("My home city is Lyon.") restated in paraphrases, with
values that change over time, a few facts stated only once, and small talk. Its ground
truth (each fact's final value) is sealed: only :meth:`CompactionWorld.evaluate` reads it,
to count, for a set of memory texts, the facts lost and the contradictions left.

Two stand-in behaviours answer DSPy calls by signature structure:

- **note-taker** extraction (inputs ``conversation, memories``, output ``ops``; only in
  :func:`compaction_lm`): writes what the user just said as a new memory, in one of four
  phrasings, without looking at the memories shown — the behaviour of an extractor whose
  related memory was not retrieved, which is how fragments pile up;
- **compaction** (input ``memories`` only, output ``operations``; also registered with the
  simulated world, so ``offline/support`` answers it): reads memory texts and their
  ``stated_at`` times, parses "attribute is value" statements (it knows the attribute
  synonyms, as an LM would), merges those that agree, deletes those a newer statement
  contradicts, and merges exact repeats of texts it cannot parse. It never sees the world.

    world = CompactionWorld(seed=0, updates=500)
    dataset = world.dataset()                 # TrajectoryDataset, one user, in time order
    lm = compaction_lm(seed=0)                # offline/compaction
    world.evaluate(texts)                     # {"facts": 12, "facts_lost": 0, "contradictions": 0, ...}
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from engram.testing._engine import OfflineEngine, make_lm
from engram.testing._handlers import fill_outputs, register_handler
from engram.testing._protocol import ParsedCall, parse_json_input

if TYPE_CHECKING:
    from engram.trajectories import TrajectoryDataset

# slot -> (two names a person uses for it, values it takes)
SLOTS: dict[str, tuple[tuple[str, str], tuple[str, ...]]] = {
    "colour": (("favourite colour", "favorite color"), ("blue", "green", "red", "yellow", "purple")),
    "city": (("home city", "city of residence"), ("Lisbon", "Oslo", "Lyon", "Kyoto", "Austin")),
    "employer": (("employer", "current company"), ("Acme", "Globex", "Initech", "Hooli")),
    "coffee": (("usual coffee order", "go-to coffee"), ("latte", "espresso", "cappuccino", "americano")),
    "pet": (("dog's name", "puppy's name"), ("Rex", "Luna", "Milo", "Bella")),
    "editor": (("code editor", "editor of choice"), ("Vim", "Emacs", "Zed", "Helix")),
    "sport": (("favourite sport", "sport of choice"), ("tennis", "rowing", "climbing", "squash")),
    "phone": (("phone model", "handset"), ("Pixel", "iPhone", "Fairphone")),
    "team": (("football team", "club they support"), ("Benfica", "Ajax", "Celtic", "Napoli")),
    "diet": (("diet", "eating style"), ("vegetarian", "vegan", "pescatarian", "omnivore")),
    "birth_month": (("birthday month", "month of birth"), ("March", "May", "October")),
    "allergy": (("food allergy", "allergy"), ("peanuts", "shellfish", "gluten")),
}
ONE_OFF = ("birth_month", "allergy")  # stated once, early: compaction must not lose them
_SAY = ("My {a} is {v}.", "Quick update: my {a} is {v} now.", "These days my {a} is {v}.",
        "{V} is my {a}, by the way.", "Remember that my {a} is {v}.")
_CHATTER = ("Can you remind me how to reset my password?", "What's the weather like today?",
            "Thanks, that's all for now.", "Can you recommend a book about gardening?")
_NOTES = {"password": "The user asked how to reset a password.", "weather": "The user asked about the weather.",
          "book": "The user asked for a gardening book."}
_T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

# -- the note-taker (extraction stand-in) ------------------------------------------------------
_MY = re.compile(r"\b[Mm]y (?P<a>(?:(?!\bmy\b)[a-z' -])+?) is (?P<v>[A-Za-z]\w*)(?: now)?(?=[.!,]| and\b)")
_IS_MY = re.compile(r"^(?P<v>[A-Z]\w*) is my (?P<a>(?:(?!\bmy\b)[a-z' -])+?)(?=[.!,]| and\b)")
_WRITE = ("The user's {a} is {v}.", "User's {a}: {v}", "{V} is the user's {a}.", "The user said their {a} is {v}.")


def _h(*parts: Any) -> int:
    return int(hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def _cap(value: str) -> str:
    return value[:1].upper() + value[1:]


def _user_turns(conversation: str) -> list[str]:
    return [line[len("user: "):] for line in (conversation or "").splitlines() if line.startswith("user: ")]


def note_taker(call: ParsedCall) -> dict[str, str]:
    """Every statement the user made, as a new memory (phrasing varies with the conversation)."""
    conversation = call.inputs.get("conversation", "")
    ops = []
    for turn in _user_turns(conversation):
        found = [(m.group("a"), m.group("v"), m.group(0)) for m in _MY.finditer(turn)]
        found += [(m.group("a"), m.group("v"), m.group(0)) for m in _IS_MY.finditer(turn)]
        for attr, value, quote in found:
            style = _WRITE[_h(conversation, attr) % len(_WRITE)]
            ops.append({"op": "insert", "content": style.format(a=attr, v=value, V=_cap(value)), "quote": quote})
        for word, note in _NOTES.items():
            if word in turn.lower():
                ops.append({"op": "insert", "content": note, "quote": turn})
    return {"ops": "\n".join(json.dumps(op) for op in ops)}


# -- the compaction stand-in -------------------------------------------------------------------
_READ = (re.compile(r"^The user said their (?P<a>.+?) is (?P<v>.+?)\.?$"),
         re.compile(r"^(?:The )?[Uu]ser's (?P<a>.+?)(?: is|:) (?P<v>.+?)\.?$"),
         re.compile(r"^(?P<v>.+?) is the user's (?P<a>.+?)\.?$"))
#: what the stand-in knows about words, as an LM would: two names of one attribute
_SAME = {name: slot for slot, (names, _) in SLOTS.items() for name in names}


def read_statement(text: str) -> tuple[str, str] | None:
    """(attribute, value) of an "attribute is value" memory, normalised; None for anything else."""
    for pattern in _READ:
        m = pattern.match(text.strip())
        if m:
            attr = m.group("a").strip().lower()
            return _SAME.get(attr, attr), m.group("v").strip().lower()
    return None


def _when(item: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(item.get("stated_at")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def compact_memories(call: ParsedCall, world: Any = None) -> dict[str, Any]:
    """Merge agreeing statements, delete contradicted ones (newest ``stated_at`` wins), merge
    exact repeats of other texts. Reads only the request."""
    items = [i for i in parse_json_input(call.inputs.get("memories", ""), []) or [] if isinstance(i, dict)]
    by_attr: dict[str, list[dict[str, Any]]] = {}
    by_text: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        parsed = read_statement(str(item.get("text", "")))
        if parsed:
            by_attr.setdefault(parsed[0], []).append({**item, "value": parsed[1]})
        else:
            by_text.setdefault(" ".join(str(item.get("text", "")).lower().split()), []).append(item)
    ops: list[dict[str, Any]] = []
    for attr, group in by_attr.items():
        newest = max(group, key=lambda i: (_when(i), i.get("id", 0)))
        same = [i["id"] for i in group if i["value"] == newest["value"]]
        other = [i["id"] for i in group if i["value"] != newest["value"]]
        if len(same) > 1:
            ops.append({"action": "merge", "ids": same, "content": newest["text"],
                        "reason": f"the same {attr}, stated {len(same)} times"})
        if other:
            ops.append({"action": "delete", "ids": other, "reason": f"{attr} changed to {newest['value']} later"})
    for group in by_text.values():
        if len(group) > 1:
            ops.append({"action": "merge", "ids": [i["id"] for i in group], "content": group[-1]["text"],
                        "reason": "repeated"})
    return {"operations": ops}


def is_compaction(call: ParsedCall) -> bool:
    return "operations" in call.output_fields and call.input_fields == ["memories"]


register_handler("memory-compact", is_compaction, compact_memories)


# -- the world ---------------------------------------------------------------------------------
class CompactionWorld:
    """One simulated user's ``updates`` messages; the true final facts are sealed (see module docs)."""

    def __init__(self, seed: int = 0, updates: int = 500, *, change_rate: float = 0.15, chatter: float = 0.08):
        rng = random.Random(_h("compaction-world", seed))
        self.seed, self.updates = seed, updates
        current = {slot: rng.choice(values) for slot, (_, values) in SLOTS.items()}
        told: set[str] = set(ONE_OFF)
        messages: list[str] = []
        for slot in ONE_OFF:  # told once, at the start
            messages.append(self._say(rng, slot, current[slot]))
        repeated = [s for s in SLOTS if s not in ONE_OFF]
        for _ in range(max(0, updates - len(messages))):
            if rng.random() < chatter:
                messages.append(rng.choice(_CHATTER))
                continue
            slot = rng.choice(repeated)
            if rng.random() < change_rate:
                current[slot] = rng.choice([v for v in SLOTS[slot][1] if v != current[slot]])
            text = self._say(rng, slot, current[slot])
            told.add(slot)
            if rng.random() < 0.15:  # two facts in one message
                other = rng.choice([s for s in repeated if s != slot])
                told.add(other)
                text = text.rstrip(".").removesuffix(", by the way") + " and " + self._say(rng, other, current[other], plain=True).replace("My ", "my ", 1)
            messages.append(text)
        self.messages = messages[:updates]
        self.__truth = {s: v for s, v in current.items() if s in told}  # sealed: read only by evaluate()

    @staticmethod
    def _say(rng: random.Random, slot: str, value: str, plain: bool = False) -> str:
        name = rng.choice(SLOTS[slot][0])
        template = _SAY[0] if plain else rng.choice(_SAY)
        text = template.format(a=name, v=value, V=_cap(value))
        return text[:1].upper() + text[1:]

    def __repr__(self) -> str:
        return f"CompactionWorld(seed={self.seed}, updates={self.updates}) (offline stand-in)"

    def dataset(self, user: str = "u1") -> TrajectoryDataset:
        """The updates as one-message trajectories of ``user``, an hour apart, in order."""
        from engram.trajectories import Trajectory, TrajectoryDataset

        return TrajectoryDataset([Trajectory.model_validate({
            "id": f"cw{self.seed}-{i:04d}", "messages": [{"role": "user", "content": m}], "user": user,
            "time": _T0 + timedelta(hours=i), "tags": ["simulated"]}) for i, m in enumerate(self.messages)],
            name="compaction-world")

    def evaluate(self, texts: list[str]) -> dict[str, int]:
        """Against the sealed truth: facts whose true value no text states (lost), facts stated
        with two or more values (contradictions), and texts that state a stale value."""
        truth = self.__truth
        stated: dict[str, set[str]] = {slot: set() for slot in truth}
        for text in texts:
            low = text.lower()
            for slot in truth:
                names, values = SLOTS[slot]
                if any(n in low for n in names):
                    stated[slot] |= {v for v in values if re.search(r"\b" + re.escape(v.lower()) + r"\b", low)}
        lost = sum(truth[s] not in stated[s] for s in truth)
        contradictions = sum(len(stated[s]) > 1 for s in truth)
        stale = sum(len({v for v in stated[s] if v != truth[s]}) for s in truth)
        return {"facts": len(truth), "facts_lost": lost, "contradictions": contradictions, "stale_values": stale,
                "memories": len(texts)}


class CompactionEngine(OfflineEngine):
    """The note-taker and the compaction stand-in; anything else goes to the simulated world."""

    label = "offline stand-in: note-taking extractor + compaction (engram.testing), not a model"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        from engram.testing._world import World

        self.world = World(seed=self.seed)

    def answer(self, call: ParsedCall) -> dict[str, Any] | str:
        if is_compaction(call):
            return fill_outputs(call, compact_memories(call))
        if "ops" in call.output_fields and "conversation" in call.inputs and "refused" not in call.inputs:
            return fill_outputs(call, note_taker(call))
        return self.world.answer(call)


def compaction_lm(seed: int = 0, *, name: str = "offline/compaction", **kwargs: Any):
    """The note-taker + compaction stand-in as a ``dspy.LM`` (see the module docstring)."""
    return make_lm(CompactionEngine(seed=seed, latency=kwargs.pop("latency", 0.0)), name, **kwargs)


__all__ = ["SLOTS", "CompactionEngine", "CompactionWorld", "compact_memories", "compaction_lm", "note_taker",
           "read_statement"]
