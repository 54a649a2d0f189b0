"""The simulated world: users with hidden preferences, a task model, a judge, a reflector.

A deterministic stand-in, not a model. It gives optimizers something real to learn: the
task model's answers depend on the instructions in its prompt (see :mod:`.traits`), users
score answers by how many of their hidden preferences they meet and complain in words
that name what is missing, and the reflection / writer behaviours turn those complaints
into prompt edits. Python helpers drive it directly (benchmarks, datasets, the demo)::

    world = World(seed=0)
    user = world.users(8)[0]
    reply = world.respond("You are Acme's support assistant.", user.message(world.topic("refund")))
    world.satisfaction(user, reply)            # 0.0: the seed prompt asks for none of the traits
    better = world.oracle_prompt("You are Acme's support assistant.")
    world.satisfaction(user, world.respond(better, "I want a refund"))   # 1.0
    data = world.simulate(better, world.users(8), turns=2)               # TrajectoryDataset

and through DSPy, as one offline LM that answers any signature (see :mod:`.handlers`)::

    lm = simulated_lm(seed=0)                  # dspy.LM named "offline/support"
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from engram.testing._engine import OfflineEngine, make_lm
from engram.testing._handlers import dispatch, register_handler
from engram.testing._protocol import ParsedCall
from engram.testing._topics import GENERIC, TOPICS, TOPICS_BY_KEY, Topic, match_topic
from engram.testing._traits import (
    FILLER_CLOSING,
    FILLER_OPENING,
    HELP_CENTER,
    TRAIT_NAMES,
    TRAITS,
    activated_traits,
    complained_traits,
    get_trait,
    instructed_traits,
)
from engram.testing._users import SimUser, make_users

if TYPE_CHECKING:
    from engram.trajectories import Feedback, TrajectoryDataset

SEED_PROMPT = "You are the support assistant for Acme. Answer the customer's question."
_T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _digest(*parts: Any) -> int:
    return int(hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def _prompt_text(prompt: Any) -> str:
    """A prompt as text: a string, an engram ``Prompt`` or a chat template (list of messages)."""
    template = getattr(prompt, "template", prompt)
    if isinstance(template, list):
        return "\n".join(str(m.get("content", "")) for m in template)
    return str(template or "")


class World:
    """A seeded simulated world (stand-in). ``population`` users are the ones the judge knows."""

    def __init__(self, seed: int = 0, population: int = 8):
        self.seed = seed
        self.population: list[SimUser] = make_users(seed, population)

    def __repr__(self) -> str:
        return f"World(seed={self.seed}, population={len(self.population)}) (offline stand-in)"

    # -- people and topics -------------------------------------------------------------------
    def users(self, n: int | None = None) -> list[SimUser]:
        """``n`` users (default: the population); the first ones are the population's."""
        return list(self.population) if n is None else make_users(self.seed, n)

    def user(self, key: str) -> SimUser:
        """A population user by id or name."""
        for u in self.population:
            if key in (u.id, u.name):
                return u
        raise KeyError(f"no simulated user {key!r}; known: {', '.join(u.id for u in self.population)}")

    @staticmethod
    def topics() -> tuple[Topic, ...]:
        return TOPICS

    @staticmethod
    def topic(key: str) -> Topic:
        return TOPICS_BY_KEY[key]

    def identify(self, text: str) -> SimUser | None:
        """The population user a text names (by id, or by ``I'm <name>`` / the name as a word)."""
        text = text or ""
        hits = []
        for u in self.population:
            for pattern in (r"\b" + re.escape(u.id) + r"\b", r"\b" + re.escape(u.name) + r"\b"):
                m = re.search(pattern, text)
                if m:
                    hits.append((m.start(), u.index, u))
                    break
        return min(hits, key=lambda h: (h[0], h[1]))[2] if hits else None

    # -- the task model ----------------------------------------------------------------------
    def respond(self, prompt: Any, message: str, history: str = "") -> str:
        """What the task model answers to ``message`` under ``prompt`` (follows the traits it asks for).

        ``history`` (earlier turns) gives the topic when the message alone does not ("Now what?").
        """
        active = set(activated_traits(_prompt_text(prompt)))
        topic = match_topic(message)
        if topic is GENERIC and history:
            topic = match_topic(history)
        lines: list[str] = []
        opening = []
        if "apology" in active:
            opening.append(f"Sorry about the trouble with {topic.title}.")
        if "concise" not in active:
            opening.append(FILLER_OPENING)
        opening.append(topic.summary)
        lines.append(" ".join(opening))
        if "numbered_steps" in active:
            lines.append("\n".join(f"{i}. {step}." for i, step in enumerate(topic.steps, 1)))
        else:
            a, b, c = (s[0].lower() + s[1:] for s in topic.steps)
            lines.append(f"First, {a}; then {b.rstrip('.')}; and finally {c}.")
        tail = []
        if "concise" not in active:
            tail.append(FILLER_CLOSING)
        if "ticket" in active:
            tail.append(f"Your ticket reference is TKT-{_digest(self.seed, message) % 90000 + 10000}.")
        if "docs_link" in active:
            tail.append(f"Help-center article: {HELP_CENTER}{topic.slug}")
        if tail:
            lines.append(" ".join(tail))
        if "follow_up" in active:
            lines.append("Did that solve the problem?")
        return "\n\n".join(lines)

    # -- users' judgement --------------------------------------------------------------------
    def satisfaction(self, user: SimUser, response: str) -> float:
        """Fraction of the user's hidden preferences the response meets."""
        met = [t for t in user.preferences if get_trait(t).detect(response or "")]
        return len(met) / len(user.preferences) if user.preferences else 1.0

    def comment(self, user: SimUser, response: str) -> str:
        """What the user writes: a complaint per unmet preference, praise for met ones."""
        rng = random.Random(_digest(self.seed, user.id, response))
        unmet = [t for t in user.preferences if not get_trait(t).detect(response or "")]
        met = [t for t in user.preferences if t not in unmet]
        parts = [rng.choice(get_trait(t).complaints) for t in unmet]
        if met and (not unmet or rng.random() < 0.5):
            parts.append(rng.choice(get_trait(rng.choice(met)).praise))
        if not unmet:
            parts.append("exactly what I needed")
        return " ".join(p[0].upper() + p[1:] + ("" if p[-1] in ".?!" else ".") for p in parts)

    def feedback(self, user: SimUser, response: str) -> Feedback:
        """The user's score (satisfaction) and comment, as an engram ``Feedback``."""
        from engram.trajectories import Feedback

        score = self.satisfaction(user, response)
        return Feedback(score=score, label="thumbs_up" if score >= 0.5 else "thumbs_down",
                        comment=self.comment(user, response), source="user")

    def population_weights(self) -> dict[str, float]:
        """How many population users hold each trait, normalised to sum to 1."""
        counts = {t: sum(t in u.preferences for u in self.population) for t in TRAIT_NAMES}
        total = sum(counts.values()) or 1
        return {t: c / total for t, c in counts.items()}

    def judge(self, response: str, user: SimUser | None = None) -> tuple[float, str]:
        """(score, critique): the user's satisfaction, or the population-weighted one if no user."""
        if user is not None:
            unmet = [t for t in user.preferences if not get_trait(t).detect(response or "")]
            score = self.satisfaction(user, response)
        else:
            # Each population user's preference counts once (integers: exact 0.0 and 1.0).
            counts = {t: sum(t in u.preferences for u in self.population) for t in TRAIT_NAMES}
            unmet = [t for t in TRAIT_NAMES if counts[t] and not get_trait(t).detect(response or "")]
            total = sum(counts.values())
            score = sum(c for t, c in counts.items() if t not in unmet) / total if total else 1.0
        if not unmet:
            return score, "Meets every preference; nothing to complain about."
        critique = "; ".join(get_trait(t).complaints[0] for t in unmet)
        return max(0.0, score), critique[0].upper() + critique[1:] + "."

    # -- prompts -----------------------------------------------------------------------------
    def oracle_prompt(self, base: Any = SEED_PROMPT) -> str:
        """``base`` plus the instruction of every trait some population user prefers."""
        wanted = [t for t in TRAIT_NAMES if any(t in u.preferences for u in self.population)]
        return self.improve(base, " ".join(get_trait(t).instruction for t in wanted))

    def recommend(self, prompt: Any, evidence: str) -> list[str]:
        """Complained-about traits (from ``evidence``) the prompt does not already ask for."""
        covered = set(activated_traits(_prompt_text(prompt)))
        return [t for t in complained_traits(evidence) if t not in covered]

    def improve(self, prompt: Any, evidence: str) -> str:
        """The smallest edit: append the instructions for complained or recommended traits not yet covered.

        Template variables survive because the prompt text is kept verbatim.
        """
        text = _prompt_text(prompt)
        covered = set(activated_traits(text))
        wanted = [t for t in TRAIT_NAMES
                  if t in set(complained_traits(evidence)) | set(instructed_traits(evidence)) and t not in covered]
        if not wanted:
            return text
        added = "\n".join(get_trait(t).instruction for t in wanted)
        return f"{text.rstrip()}\n{added}" if text.strip() else added

    # -- whole conversations -----------------------------------------------------------------
    def simulate(self, prompt: Any, users: Sequence[SimUser] | int | None = None, turns: int = 1, *,
                 threads: int = 1, prompt_name: str | None = None, prompt_version: str | None = None,
                 system_message: bool = True) -> TrajectoryDataset:
        """Conversations of ``users`` with the task model under ``prompt``, with their feedback.

        Each user gets ``threads`` conversations of ``turns`` exchanges on seeded topics; the
        feedback scores the whole thread (mean satisfaction) and comments on its last reply.
        """
        from engram.trajectories import Feedback, Trajectory, TrajectoryDataset

        people = self.users(users) if isinstance(users, int) or users is None else list(users)
        text = _prompt_text(prompt)
        out = []
        for u in people:
            rng = random.Random(_digest(self.seed, "simulate", u.id))
            for k in range(threads):
                messages: list[dict[str, str]] = [{"role": "system", "content": text}] if system_message else []
                scores = []
                reply = ""
                for turn in range(turns):
                    topic = rng.choice(TOPICS)
                    msg = u.message(topic, turn, variant=rng.randrange(len(topic.questions)))
                    reply = self.respond(text, msg, history=" ".join(m["content"] for m in messages if m["role"] != "system"))
                    scores.append(self.satisfaction(u, reply))
                    messages += [{"role": "user", "content": msg}, {"role": "assistant", "content": reply}]
                score = sum(scores) / len(scores)
                fb = Feedback(score=score, label="thumbs_up" if score >= 0.5 else "thumbs_down",
                              comment=self.comment(u, reply), source="user")
                # the message dicts are validated as the Trajectory's (an empty prompt is refused there)
                out.append(Trajectory.model_validate({
                    "messages": messages, "feedback": fb, "user": u.id, "thread": f"{u.id}-t{k + 1}",
                    "prompt_name": prompt_name, "prompt_version": prompt_version,
                    "time": _T0 + timedelta(hours=u.index * 24 + k * 3),
                    "tags": ["simulated"], "metadata": {"stand_in": "engram.testing.World"}}))
        return TrajectoryDataset(out, name="simulated")

    def mean_satisfaction(self, prompt: Any, users: Iterable[SimUser] | None = None) -> float:
        """Average satisfaction of ``users`` over every topic under ``prompt`` (a quick quality figure)."""
        people = list(users) if users is not None else self.population
        text = _prompt_text(prompt)
        scores = [self.satisfaction(u, self.respond(text, u.message(t))) for u in people for t in TOPICS]
        return sum(scores) / len(scores) if scores else 0.0

    # -- as an LM ----------------------------------------------------------------------------
    def answer(self, call: ParsedCall) -> dict[str, Any] | str:
        return dispatch(call, self)

    def lm(self, *, latency: float | tuple[float, float] = 0.0, name: str = "offline/support", **kwargs: Any):
        """This world as a ``dspy.LM`` (stand-in)."""
        return make_lm(SimulatedEngine(self, latency=latency), name, **kwargs)


class SimulatedEngine(OfflineEngine):
    """A DSPy engine whose answers come from a :class:`World` (stand-in, not a model)."""

    def __init__(self, world: World | None = None, **kwargs: Any):
        world = world or World(seed=kwargs.get("seed", 0))
        kwargs.setdefault("seed", world.seed)
        super().__init__(**kwargs)
        self.world = world
        self.requests: list[ParsedCall] = []

    def answer(self, call: ParsedCall) -> dict[str, Any] | str:
        with self._lock:
            self.requests.append(call)
        return self.world.answer(call)


def simulated_lm(seed: int = 0, *, latency: float | tuple[float, float] = 0.0, world: World | None = None,
                 population: int = 8, name: str = "offline/support", **kwargs: Any):
    """The simulated world as one offline ``dspy.LM`` (stand-in): task model, judge, reflector, writer.

        lm = simulated_lm(seed=0, latency=0.05)
        with dspy.context(lm=lm):
            dspy.Predict("message -> response")(message="I forgot my password")
    """
    world = world or World(seed=seed, population=population)
    return world.lm(latency=latency, name=name, **kwargs)


__all__ = ["GENERIC", "SEED_PROMPT", "TRAITS", "SimulatedEngine", "World", "register_handler", "simulated_lm"]
