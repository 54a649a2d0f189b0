"""Simulated users: facts about them, hidden preferences, and the messages they write.

A stand-in population, not real people. ``make_users(seed, n)`` is prefix-stable: the
first 8 of ``make_users(0, 12)`` are ``make_users(0, 8)``. Every trait is preferred by at
least one of the first ``len(TRAITS)`` users, so small populations still cover all traits::

    user = make_users(seed=0, n=8)[0]
    user.facts          # {'name': 'Maya', 'city': 'Lisbon', 'plan': 'Pro', ...}  (ground truth)
    user.preferences    # ('numbered_steps', 'ticket')                            (hidden)
    user.message(TOPICS[0], turn=0)   # "Hi, I'm Maya from Lisbon. I forgot my password ..."
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from engram.testing._topics import Topic
from engram.testing._traits import TRAIT_NAMES

NAMES = ("Maya", "Jonas", "Priya", "Tomás", "Aiko", "Samuel", "Leila", "Oskar", "Nadia", "Ravi", "Chloe",
         "Mateo", "Ingrid", "Kwame", "Sofia", "Daniel", "Yusuf", "Hannah", "Lucas", "Mei", "Elena", "Omar",
         "Freya", "Diego")
CITIES = ("Lisbon", "Berlin", "Pune", "Valencia", "Osaka", "Nairobi", "Toronto", "Oslo", "Cairo", "Melbourne",
          "Lyon", "Montevideo")
PLANS = ("Free", "Basic", "Pro", "Business")
PRODUCTS = ("the iOS app", "the Android app", "the web dashboard", "the desktop app")
CONTACTS = ("email", "phone", "chat", "text message")

# Extra preferences beyond the guaranteed one are drawn with these weights, so some traits
# are common (most users want steps) and some rare: an optimizer must weigh them.
_WEIGHTS = {"concise": 0.55, "numbered_steps": 0.6, "apology": 0.3, "ticket": 0.35, "docs_link": 0.35,
            "follow_up": 0.45}


@dataclass(frozen=True)
class SimUser:
    """A simulated user (stand-in). ``preferences`` are hidden trait names; ``facts`` are ground truth."""

    id: str
    name: str
    city: str
    plan: str
    product: str
    contact: str
    preferences: tuple[str, ...]
    index: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def facts(self) -> dict[str, str]:
        """What a memory extractor should learn about this user from their messages."""
        return {"name": self.name, "city": self.city, "plan": self.plan, "product": self.product,
                "contact_preference": self.contact}

    @property
    def fact_sentences(self) -> list[str]:
        """The facts as short sentences (for comparing with extracted memories)."""
        return [f"The user's name is {self.name}.", f"The user lives in {self.city}.",
                f"The user is on the {self.plan} plan.", f"The user uses {self.product}.",
                f"The user prefers {self.contact} for contact."]

    def intro(self, turn: int) -> str:
        """The facts the user mentions on a given turn: who they are first, then their setup."""
        if turn == 0:
            return f"Hi, I'm {self.name} from {self.city}."
        if turn == 1:
            return f"I'm on the {self.plan} plan and I use {self.product}."
        if turn == 2:
            return f"By the way, I prefer {self.contact} if you need to reach me."
        return ""

    def message(self, topic: Topic, turn: int = 0, variant: int | None = None) -> str:
        """A message about ``topic``; ``variant`` picks the wording (default: by turn and user)."""
        index = (self.index + turn) if variant is None else variant
        question = topic.questions[index % len(topic.questions)]
        return " ".join(part for part in (self.intro(turn), question) if part)


def _preferences(rng: random.Random, index: int, order: list[str]) -> tuple[str, ...]:
    guaranteed = order[index % len(order)]
    extras = [name for name in TRAIT_NAMES if rng.random() < _WEIGHTS[name] * 0.6 and name != guaranteed]
    if not extras:  # one-trait users make satisfaction too coarse (0 or 1)
        extras = [rng.choice([n for n in TRAIT_NAMES if n != guaranteed])]
    chosen = {guaranteed, *extras[:3]}
    return tuple(n for n in TRAIT_NAMES if n in chosen)


def make_users(seed: int = 0, n: int = 8) -> list[SimUser]:
    """``n`` simulated users, deterministic for a seed (see the module docstring)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    order_rng = random.Random(f"engram-world-{seed}")
    names = list(NAMES)
    order_rng.shuffle(names)
    trait_order = list(TRAIT_NAMES)
    order_rng.shuffle(trait_order)
    users = []
    for i in range(n):
        rng = random.Random(f"engram-user-{seed}-{i}")
        name = names[i % len(names)] + ("" if i < len(names) else f" {i // len(names) + 1}")
        users.append(SimUser(id=f"user-{i + 1:02d}", name=name, city=rng.choice(CITIES), plan=rng.choice(PLANS),
                             product=rng.choice(PRODUCTS), contact=rng.choice(CONTACTS),
                             preferences=_preferences(rng, i, trait_order), index=i))
    return users
