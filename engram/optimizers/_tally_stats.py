"""The statistics behind :class:`~engram.optimizers._tally.TallyOptimizer`: no LM call here.

Every logged reply has been read by the LM (which instructions its user's feedback asks for,
and whether the user says the answer was incomplete) and checked against every candidate
instruction (does the reply already follow it?). From those labels alone:

- **exposure-corrected support.** A user can miss a behaviour only in a reply without it and
  praise it only in a reply with it, so a behaviour most replies already show draws few
  requests however many users like it. The support of an instruction is the share of replies
  *not* following it whose users ask for it, plus the share of replies following it whose users
  ask for it (praise), minus the same for its opposite. A raw count (what a critique over the
  whole batch sees) under-rates what the prompt already half does and over-rates what it rarely does.
- **opposites from the labels.** Two instructions are opposites when no reply follows both and
  every reply follows one ("Keep answers short." / "Explain fully."); their supports are netted.
- **incompleteness has a price.** Its weight is the share of incomplete replies whose users said so.
- **the ratings set the size.** The comments say which way an instruction moves users; the
  ratings, how far. The supports, scaled to rating units, are the prior of a ridge regression of
  each reply's rating on the instructions it follows (:func:`fit_to_ratings`). On issue 10's hard
  world (a simulation) this took the gap closed from 0.66 to 0.71 on the development seeds
  100-139, where its strength (10) was chosen among 3 / 10 / 30 / 100 (0.654 / 0.71 / 0.674 / 0.654).
- **a prompt's value** is the sum, over instructions, of the share of its replies that follow
  each one times that instruction's net support, minus the weight of incompleteness times the
  share of incomplete replies. Shares come from replies the prompt actually produced, so an
  instruction that drags another along, or one the model drops because the prompt asks too
  much, is valued as it behaves.

Example::

    tally = Tally()
    tally.add("Sorry.\\nSee TKT-1.", ["Keep answers short."], incomplete=False, message="Hi", prompt="P")
    tally.label("Sorry.\\nSee TKT-1.", {"Keep answers short.": True})
    tally.support("Keep answers short.")     # praised in the one reply that follows it
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass
class Reading:
    """One logged reply and what the LM read from its user's feedback (``commented=False``: a rating
    without a comment, which counts in the ratings fit only)."""

    reply: str
    asks: list[str]
    incomplete: bool
    message: str
    prompt: str
    score: float | None = None
    commented: bool = True


@dataclass
class Tally:
    """Readings and instruction labels accumulated across calls (see the module docstring)."""

    readings: list[Reading] = field(default_factory=list)
    labels: dict[str, dict[str, bool]] = field(default_factory=dict)  # reply -> instruction -> followed
    complete: dict[str, bool] = field(default_factory=dict)  # reply -> the answer is complete

    def add(self, reply: str, asks: Sequence[str], *, incomplete: bool, message: str, prompt: str,
            score: float | None = None, commented: bool = True) -> None:
        self.readings.append(Reading(reply, [a for a in dict.fromkeys(asks) if a], incomplete, message, prompt,
                                     score, commented))

    def commented(self) -> list[Reading]:
        """The readings whose user wrote a comment: only they can ask for something or say it is incomplete."""
        return [r for r in self.readings if r.commented]

    def label(self, reply: str, followed: dict[str, bool], complete: bool | None = None) -> None:
        self.labels.setdefault(reply, {}).update(followed)
        if complete is not None:
            self.complete[reply] = complete

    def pool(self, extra: Iterable[str] = ()) -> list[str]:
        """Every instruction some user asked for (first-seen order), then ``extra``."""
        return list(dict.fromkeys([a for r in self.readings for a in r.asks] + [e for e in extra if e]))

    def unlabeled(self, reply: str, instructions: Iterable[str]) -> list[str]:
        known = self.labels.get(reply, {})
        return [i for i in instructions if i not in known]

    def follows(self, reply: str, instruction: str) -> bool:
        return bool(self.labels.get(reply, {}).get(instruction, False))

    def _shares(self, instruction: str) -> float:
        asked_without = asked_with = without = with_ = 0
        for r in self.commented():
            asked = instruction in r.asks
            if self.follows(r.reply, instruction):
                with_ += 1
                asked_with += asked
            else:
                without += 1
                asked_without += asked
        return (asked_without / without if without else 0.0) + (asked_with / with_ if with_ else 0.0)

    def opposites(self, instructions: Sequence[str]) -> dict[str, str]:
        """Pairs no reply follows together while every reply follows one of them."""
        out: dict[str, str] = {}
        replies = [r.reply for r in self.readings]
        for a, b in itertools.combinations(instructions, 2):
            if a in out or b in out or not replies:
                continue
            fa = [self.follows(x, a) for x in replies]
            fb = [self.follows(x, b) for x in replies]
            if not any(x and y for x, y in zip(fa, fb)) and all(x or y for x, y in zip(fa, fb)):
                out[a], out[b] = b, a
        return out

    def exclusive(self, instructions: Sequence[str], min_expected: float = 4.0) -> set[frozenset[str]]:
        """Pairs no labelled reply (logged or replayed) follows together, though chance predicts at least
        ``min_expected`` that would ("Do not apologize." / "Open with a brief apology."): asking for both
        contradicts the prompt, whatever the model then does with it."""
        out: set[frozenset[str]] = set()
        for a, b in itertools.combinations(instructions, 2):
            both = [(x[a], x[b]) for x in self.labels.values() if a in x and b in x]
            n, na, nb = len(both), sum(p for p, _ in both), sum(q for _, q in both)
            if n and not any(p and q for p, q in both) and na * nb / n >= min_expected:
                out.add(frozenset((a, b)))
        return out

    def support(self, instruction: str, opposite: str | None = None) -> float:
        """Exposure-corrected share of users asking for ``instruction``, net of its ``opposite``."""
        return self._shares(instruction) - (self._shares(opposite) if opposite else 0.0)

    def incompleteness_weight(self, default: float = 0.5) -> float:
        incomplete = [r for r in self.commented() if self.complete.get(r.reply) is False]
        return sum(r.incomplete for r in incomplete) / len(incomplete) if incomplete else default

    def base_rate(self, instruction: str, opposite: str | None = None) -> float:
        """How often replies follow ``instruction`` when the prompt says nothing about it (smoothed)."""
        free = [r for r in self.readings if instruction not in r.prompt and (opposite or "\x00") not in r.prompt]
        return (sum(self.follows(r.reply, instruction) for r in free) + 1) / (len(free) + 4)


def fit_to_ratings(tally: Tally, weights: dict[str, float], incompleteness_weight: float,
                   strength: float) -> tuple[dict[str, float], float]:
    """The instruction weights and incompleteness weight refitted to the users' ratings.

    The comments say *which way* each instruction moves users, the ratings say *by how much*, but
    from a few dozen replies, where the instructions go together, ratings alone are noisy. So the
    comment-based weights, scaled to rating units by one least-squares fit, are the prior of a
    ridge regression of each reply's rating on the instructions it follows (and on being incomplete):
    ``strength`` is how many replies' worth of evidence the prior counts as. Readings without a
    score are left out; ratings without a comment count here (and only here). With fewer than two
    scored replies, or ratings that are all the same (every reply scored 0: they cannot tell
    instructions apart), the weights are returned unchanged.
    """
    import numpy as np

    rated = [r for r in tally.readings if r.score is not None]
    if len(rated) < 2 or not weights or len({float(r.score) for r in rated}) < 2:  # type: ignore[arg-type]
        return weights, incompleteness_weight
    names = list(weights)
    x = np.array([[float(tally.follows(r.reply, i)) for i in names] + [float(tally.complete.get(r.reply) is False)]
                  for r in rated])
    y = np.array([float(r.score) for r in rated])  # type: ignore[arg-type]
    prior = np.array([weights[i] for i in names] + [-incompleteness_weight])
    z = (x - x.mean(axis=0)) @ prior
    scale = max(0.0, float(z @ (y - y.mean())) / float(z @ z)) if float(z @ z) > 1e-12 else 0.0
    design = np.column_stack([np.ones(len(y)), x])
    penalty = strength * np.eye(design.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    target = np.concatenate([[0.0], scale * prior])
    beta = np.linalg.solve(design.T @ design + penalty, design.T @ y + penalty @ target)
    return dict(zip(names, map(float, beta[1:-1]))), -float(beta[-1])


def value(weights: dict[str, float], shares: dict[str, float], incomplete_share: float,
          incompleteness_weight: float) -> float:
    """A prompt's value from the shares of its replies that follow each weighted instruction."""
    return sum(w * shares.get(i, 0.0) for i, w in weights.items()) - incompleteness_weight * incomplete_share


def contradicts(chosen: Sequence[str], exclusive: Iterable[frozenset[str]]) -> bool:
    """Whether ``chosen`` holds a pair of ``exclusive`` instructions."""
    banned = exclusive if isinstance(exclusive, (set, frozenset)) else set(exclusive)
    return any(frozenset(pair) in banned for pair in itertools.combinations(chosen, 2))


def subsets(pool: Sequence[str], opposites: dict[str, str], limit: int,
            exclusive: Iterable[frozenset[str]] = ()) -> list[tuple[str, ...]]:
    """Every set of at most ``limit`` instructions from ``pool`` without a pair of opposites or of
    ``exclusive`` instructions (empty first)."""
    banned = set(exclusive) | {frozenset(pair) for pair in opposites.items()}
    out: list[tuple[str, ...]] = [()]
    for k in range(1, limit + 1):
        out += [s for s in itertools.combinations(pool, k) if not contradicts(s, banned)]
    return out
