"""A world in which prompt optimizers can fail (``offline/hard``; a stand-in, not real users).

Issue 10's answer to the old world (``offline/support``), where adding instructions never
hurt and the judge read the user's mind. Here (rules in :mod:`._hard_rules`):

- users belong to segments that **conflict** (one segment's like is another's dislike), and
  each user also **dislikes** things; their hidden weights sit in a vault that can be sealed;
- comments are paraphrased, partial (a preference is mentioned only sometimes), sometimes
  wrong or irrelevant, and some only make sense next to the reply ("that last bit was pointless");
- the task model follows at most three directives; asking for more costs every user a step;
- a discount users like costs the business more than it pleases them (the *true* score);
- the judge, reflection and writer stand-ins (:mod:`._hard_standins`) never see hidden
  state: the engine answers every LM call inside :meth:`HardWorld.sealed`, where reading a
  user's weights raises :class:`SealedError`.

Example::

    world = HardWorld(seed=0)
    users = world.users(4)
    world.true_score(HARD_SEED_PROMPT, users) < world.true_score(world.oracle_prompt(users), users)   # True
    data = world.simulate(HARD_SEED_PROMPT, users)      # TrajectoryDataset with scores and comments
    lm = world.lm()                                     # dspy.LM "offline/hard" (stand-in)
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engram.testing import _hard_rules as R
from engram.testing._engine import OfflineEngine, make_lm
from engram.testing._protocol import ParsedCall
from engram.testing._topics import TOPICS, match_topic

if TYPE_CHECKING:
    from engram.trajectories import Feedback, TrajectoryDataset

HARD_SEED_PROMPT = "You are the support assistant for Acme. Answer the customer's question."
_WEIGHTS = (-0.25, -0.2, -0.1, 0.0, 0.0, 0.1, 0.2, 0.25)


class SealedError(RuntimeError):
    """Hidden state (a simulated user's preferences) was read while the world was sealed."""


def _digest(*parts: Any) -> int:
    return int(hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def prompt_text(prompt: Any) -> str:
    template = getattr(prompt, "template", prompt)
    if isinstance(template, list):
        return "\n".join(str(m.get("content", "")) for m in template)
    return str(template or "")


@dataclass(frozen=True)
class HardUser:
    """A simulated user; what they like is not on this object (it is in the world's vault)."""

    id: str
    index: int

    def message(self, variant: int) -> str:
        topic = TOPICS[variant % len(TOPICS)]
        return topic.questions[(variant // len(TOPICS) + self.index) % len(topic.questions)]


class _Vault:
    """Users' hidden weights; reading them raises while the calling thread is sealed."""

    def __init__(self) -> None:
        self._weights: dict[str, dict[str, float]] = {}
        self._local = threading.local()

    def sealed(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

    @contextmanager
    def seal(self) -> Iterator[None]:
        self._local.depth = getattr(self._local, "depth", 0) + 1
        try:
            yield
        finally:
            self._local.depth -= 1

    def put(self, key: str, weights: dict[str, float]) -> None:
        self._weights[key] = weights

    def get(self, key: str) -> dict[str, float]:
        if self.sealed():
            raise SealedError(f"hidden preferences of {key!r} read inside a sealed world: a stand-in (judge, "
                              "reflection or writer) may only use what its request shows")
        return self._weights[key]


@dataclass(frozen=True)
class Plan:
    """What the task model does for one message: behaviours shown and solution steps lost."""

    shown: frozenset[str]
    lost: int


class HardWorld:
    """A seeded hard world (stand-in). ``noise`` is the judge's score noise (standard deviation)."""

    def __init__(self, seed: int = 0, *, noise: float = 0.1, segments: int = 3):
        self.seed = seed
        self.noise = noise
        self._vault = _Vault()
        rng = random.Random(f"hard-world-{seed}")
        while True:  # segments must conflict on at least one behaviour
            profiles = [{b: rng.choice(_WEIGHTS) for b in R.NAMES if b != "discount"} for _ in range(segments)]
            if any(min(p[b] for p in profiles) < 0 < max(p[b] for p in profiles) for b in profiles[0]):
                break
        for p in profiles:
            p["discount"] = round(rng.uniform(0.15, 0.25), 3)
        self._profiles = profiles
        self._shares = [rng.uniform(0.5, 1.5) for _ in range(segments)]
        self._natural: dict[tuple[str, str], bool] = {}
        self._parsed: dict[str, list[tuple[str, bool]]] = {}

    def __repr__(self) -> str:
        return f"HardWorld(seed={self.seed}, noise={self.noise}) (offline stand-in)"

    # -- people (hidden state goes through the vault) -----------------------------------------
    def users(self, n: int, start: int = 0) -> list[HardUser]:
        """Users ``start .. start + n - 1`` (deterministic; disjoint ranges are disjoint people)."""
        out = []
        for i in range(start, start + n):
            key = f"hard-{i:03d}"
            if key not in self._vault._weights:
                rng = random.Random(f"hard-user-{self.seed}-{i}")
                segment = rng.choices(range(len(self._profiles)), weights=self._shares)[0]
                weights = dict(self._profiles[segment])
                for b in R.NAMES:  # individual taste: some drop a segment preference, a few add one
                    if weights[b] and b != "discount" and rng.random() < 0.15:
                        weights[b] = 0.0
                    elif not weights[b] and rng.random() < 0.1:
                        weights[b] = rng.choice((-0.1, 0.1))
                self._vault.put(key, weights)
            out.append(HardUser(id=key, index=i))
        return out

    def preferences(self, user: HardUser) -> dict[str, float]:
        """A user's hidden weights per behaviour; raises :class:`SealedError` inside :meth:`sealed`."""
        return self._vault.get(user.id)

    @contextmanager
    def sealed(self) -> Iterator[HardWorld]:
        """Run stand-ins in this block: any read of hidden preferences (in this thread) raises."""
        with self._vault.seal():
            yield self

    @property
    def is_sealed(self) -> bool:
        return self._vault.sealed()

    # -- the task model -------------------------------------------------------------------
    def _natural_shows(self, message: str, behaviour: str) -> bool:
        key = (message, behaviour)
        if key not in self._natural:
            self._natural[key] = (_digest(self.seed, "natural", message, behaviour) % 1000) / 1000 < R.NATURAL_RATE[behaviour]
        return self._natural[key]

    def plan(self, prompt: Any, message: str, demos: Sequence[str] = ()) -> Plan:
        """Directives in prompt order, the first three followed; chance fills the rest; demos imitated."""
        return self._plan(self._directives(prompt), message, demos)

    def _directives(self, prompt: Any) -> list[tuple[str, bool]]:
        text = prompt_text(prompt)
        if text not in self._parsed:
            self._parsed[text] = R.directives(text)
        return self._parsed[text]

    def _plan(self, asked: list[tuple[str, bool]], message: str, demos: Sequence[str] = ()) -> Plan:
        followed = list(asked[: R.INSTRUCTION_LIMIT])
        lost = min(3, max(0, len(asked) - R.INSTRUCTION_LIMIT))
        if demos:  # behaviours most demos show are imitated, in the capacity the prompt leaves
            seen = [R.shows(d) for d in demos]
            covered = {b for b, _ in followed}
            for b in R.NAMES:
                if len(followed) >= R.INSTRUCTION_LIMIT:
                    break
                if b not in covered and 2 * sum(b in s for s in seen) > len(seen):
                    followed.append((b, True))
        decided = dict(followed)
        shown = {b for b in R.NAMES if decided.get(b, self._natural_shows(message, b))}
        return Plan(frozenset(shown), lost)

    def respond(self, prompt: Any, message: str, demos: Sequence[str] = ()) -> str:
        """The task model's reply to ``message`` under ``prompt`` (and optional demo replies)."""
        plan = self.plan(prompt, message, demos)
        topic = match_topic(message)
        shown = plan.shown
        head = []
        if "apology" in shown:
            head.append(f"Sorry for the trouble with {topic.title}.")
        if "concise" not in shown:
            head.append(R.FILLER_OPEN)
        head.append(topic.summary)
        steps = list(topic.steps)[: 3 - plan.lost]
        parts = [" ".join(head)]
        if steps and "steps" in shown:
            parts.append("\n".join(f"{i}. {s}." for i, s in enumerate(steps, 1)))
        elif steps:
            words = ["First", "then", "finally"]
            parts.append("; ".join(f"{words[i]}, {s[0].lower() + s[1:]}" for i, s in enumerate(steps)) + ".")
        if "concise" not in shown:
            parts.append(R.FILLER_CLOSE)
        if "ticket" in shown:
            parts.append(f"Your ticket reference is TKT-{_digest(self.seed, message) % 90000 + 10000}.")
        if "docs" in shown:
            parts.append(f"Help-center article: {R.HELP_URL}{topic.slug}")
        if "discount" in shown:
            parts.append("Here is a 10% discount code for the inconvenience: SORRY10.")
        if "followup" in shown:
            parts.append("Did that solve the problem?")
        return "\n\n".join(parts)

    # -- users' judgement (hidden state: never called by a stand-in) ------------------------
    def satisfaction(self, user: HardUser, plan: Plan) -> float:
        weights = self.preferences(user)
        value = R.BASE_SATISFACTION + sum(weights[b] for b in plan.shown) - R.LOST_STEP_PENALTY * plan.lost
        return min(1.0, max(0.0, value))

    def value(self, user: HardUser, plan: Plan) -> float:
        """The true score of one reply: the user's satisfaction minus what the business pays."""
        return self.satisfaction(user, plan) - (R.DISCOUNT_COST if "discount" in plan.shown else 0.0)

    def comment(self, user: HardUser, reply: str) -> str:
        """What the user writes: paraphrased, partial, sometimes wrong or off-topic."""
        weights = self.preferences(user)
        rng = random.Random(_digest(self.seed, "comment", user.id, reply))
        shown = R.shows(reply)
        first, last = R.ends(reply)
        parts: list[str] = []
        if R.steps_shown(reply) < 3 and rng.random() < 0.7:
            parts.append(rng.choice(R.LOST_FOCUS))
        for b in R.NAMES:
            w, behaviour = weights[b], R.BY_NAME[b]
            # the verbose filler is what a concise-lover sees at either end
            marks = {b, "verbose"} if b == "concise" else {b}
            at = "first" if first in marks else "last" if last in marks else None
            if w > 0 and b not in shown and rng.random() < 0.5:
                if b == "concise" and at and rng.random() < 0.7:
                    parts.append(rng.choice(R.DEICTIC[(at, -1)]))
                else:
                    parts.append(rng.choice(behaviour.missing))
            elif w < 0 and b in shown and rng.random() < 0.6:
                parts.append(rng.choice(R.DEICTIC[(at, -1)]) if at and rng.random() < 0.7
                             else rng.choice(behaviour.excess))
            elif w > 0 and b in shown and rng.random() < 0.25:
                parts.append(rng.choice(R.DEICTIC[(at, 1)]) if at and rng.random() < 0.7
                             else rng.choice(behaviour.praise))
        if rng.random() < 0.1:  # wrong: a complaint about something this user does not care about
            neutral = [b for b in R.NAMES if not weights[b]]
            if neutral:
                parts.append(rng.choice(R.BY_NAME[rng.choice(neutral)].missing))
        if rng.random() < 0.2 or not parts:
            parts.append(rng.choice(R.IRRELEVANT))
        rng.shuffle(parts)
        return " ".join(p[0].upper() + p[1:] + ("" if p[-1] in ".?!" else ".") for p in parts)

    def feedback(self, user: HardUser, reply: str, plan: Plan | None = None) -> Feedback:
        """The user's star rating (satisfaction rounded to quarters) and comment."""
        from engram.trajectories import Feedback

        if plan is None:
            plan = Plan(frozenset(R.shows(reply)), 3 - min(3, R.steps_shown(reply)))
        score = round(self.satisfaction(user, plan) * 4) / 4
        return Feedback(score=score, label="thumbs_up" if score >= 0.5 else "thumbs_down",
                        comment=self.comment(user, reply), source="user")

    def rated(self, user: HardUser, reply: str) -> tuple[float, str]:
        """A DSPy-metric view of one reply: the user's stars minus the business cost, and the comment.

        A discount is paid by the business, so the metric subtracts its cost and says so (the way
        a DSPy metric conveys a business rule); the stand-ins never call this.
        """
        fb = self.feedback(user, reply)
        assert fb.score is not None  # feedback() always gives a score
        if "discount" in R.shows(reply):
            return float(fb.score) - R.DISCOUNT_COST, f"{fb.comment} Business rule: never offer discounts (we pay for them)."
        return float(fb.score), str(fb.comment)

    def simulate(self, prompt: Any, users: Sequence[HardUser], threads: int = 2, *, offset: int = 0,
                 demos: Sequence[str] = ()) -> TrajectoryDataset:
        """One-turn conversations of ``users`` under ``prompt`` with their feedback (no system message)."""
        from engram.trajectories import Message, Trajectory, TrajectoryDataset

        out = []
        for u in users:
            for k in range(threads):
                message = u.message(_digest(self.seed, "topic", u.id, k + offset) % 60)
                plan = self.plan(prompt, message, demos)
                reply = self.respond(prompt, message, demos)
                out.append(Trajectory(messages=[Message(role="user", content=message),
                                                Message(role="assistant", content=reply)],
                                      feedback=self.feedback(u, reply, plan), user=u.id,
                                      thread=f"{u.id}-{k + offset}", metadata={"stand_in": "engram.testing.HardWorld"}))
        return TrajectoryDataset(out, name="hard-world")

    # -- true scores and reference prompts (the benchmark's, never a stand-in's) ------------
    def true_score(self, prompt: Any, users: Sequence[HardUser], messages: int = 6,
                   demos: Sequence[str] = ()) -> float:
        """Mean true score of ``prompt`` over ``users`` x ``messages`` (satisfaction minus discount cost)."""
        asked = self._directives(prompt)
        values = [self.value(u, self._plan(asked, u.message(v * 7 + 3), demos))
                  for u in users for v in range(messages)]
        return sum(values) / len(values)

    @staticmethod
    def directive_sets(limit: int = R.INSTRUCTION_LIMIT) -> Iterator[tuple[tuple[str, bool], ...]]:
        for k in range(limit + 1):
            for names in itertools.combinations(R.NAMES, k):
                for signs in itertools.product((True, False), repeat=k):
                    yield tuple(zip(names, signs))

    @staticmethod
    def prompt_for(directive_set: Sequence[tuple[str, bool]], base: str = HARD_SEED_PROMPT) -> str:
        return "\n".join([base, *(R.instruction_for(b, w) for b, w in directive_set)])

    def oracle_prompt(self, users: Sequence[HardUser], base: str = HARD_SEED_PROMPT, messages: int = 6) -> str:
        """Brute force: the best set of at most three directives for ``users`` by true score."""
        best = max(self.directive_sets(), key=lambda d: self.true_score(self.prompt_for(d, base), users, messages))
        return self.prompt_for(best, base)

    @staticmethod
    def kitchen_sink(base: str = HARD_SEED_PROMPT) -> str:
        """Every instruction the world knows, without reading any feedback."""
        return "\n".join([base, *(b.instruction for b in R.BEHAVIOURS)])

    @staticmethod
    def random_prompt(rng: random.Random, base: str = HARD_SEED_PROMPT) -> str:
        """Up to three random directives (feedback ignored)."""
        names = rng.sample(R.NAMES, rng.randint(1, R.INSTRUCTION_LIMIT))
        return "\n".join([base, *(R.instruction_for(b, rng.random() < 0.7) for b in names)])

    # -- as an LM ---------------------------------------------------------------------------
    def lm(self, *, name: str = "offline/hard", **kwargs: Any):
        """This world's stand-ins as one ``dspy.LM`` (every call answered inside :meth:`sealed`)."""
        return make_lm(HardEngine(self), name, **kwargs)


class HardEngine(OfflineEngine):
    """A DSPy engine answering from a :class:`HardWorld`, sealed; counts calls and tokens."""

    def __init__(self, world: HardWorld, **kwargs: Any):
        kwargs.setdefault("seed", world.seed)
        super().__init__(**kwargs)
        self.world = world
        self.tokens = 0
        self.roles: dict[str, int] = {}

    def answer(self, call: ParsedCall) -> dict[str, Any] | str:
        from engram.testing._hard_standins import dispatch

        with self.world.sealed():
            role, out = dispatch(call, self.world)
        with self._lock:
            self.roles[role] = self.roles.get(role, 0) + 1
        return out

    def _respond(self, request: Any) -> Any:
        response = super()._respond(request)
        with self._lock:
            self.tokens += int(response.usage.input_tokens or 0) + int(response.usage.output_tokens or 0)
        return response


def hard_lm(seed: int = 0, *, noise: float = 0.1, world: HardWorld | None = None, name: str = "offline/hard",
            **kwargs: Any):
    """The hard world as one offline ``dspy.LM`` (stand-in)::

        lm = hard_lm(seed=3)
    """
    return (world or HardWorld(seed, noise=noise)).lm(name=name, **kwargs)


__all__ = ["HARD_SEED_PROMPT", "HardEngine", "HardUser", "HardWorld", "Plan", "SealedError", "hard_lm"]
