"""Which process applies which namespace when ``process()`` is spread over ``n`` processes.

``process(dataset, shard=(i, n), shard_by=...)`` applies only the namespaces of shard ``i``;
namespace locks are per process, so the ``n`` shards must never share a namespace. Two
assignments:

- ``"hash"`` (the default): a namespace's shard is a SHA-256 of the namespace
  (:func:`namespace_shard`). It depends on nothing else, so it is right whatever each
  process is given: streams, growing logs, a file that differs between machines, a shard
  re-run after the data grew. The price is balance: 32 equal users split 19/13 over two
  shards, which caps two processes at 32/19 = 1.68x one, whatever engram does.
- ``"load"``: a plan computed from the dataset itself. Namespaces are weighted by their
  trajectory count and dealt longest first, each to the least-loaded shard (equal weights
  in the order of their hash, equal loads to the lower shard), so 32 equal users split
  16/16 and a skewed dataset is spread as evenly as its longest namespace allows.
  **Precondition: every process is given the same dataset** (the same trajectories and,
  through ``values``, the same namespaces; their order does not matter). Each process
  computes the plan alone; nothing checks another process's plan (a process cannot see
  another's data). If the datasets differ, the plans may differ: a namespace can land in
  two shards, and two processes then write it at once (a trajectory may be applied twice,
  an old fact may overwrite a newer one), or in none (its trajectories wait for a later
  run without ``shard``). So every process reports the plan's :attr:`ShardPlan.fingerprint`
  (``report.plan``, the ``shard_plan`` parameter of its autologged MLflow run, and the
  memory step's note in ``engram run``): with ``"load"`` they must all print the same one.

The default is ``"hash"`` because it is the one that cannot go wrong silently: a precondition
that holds for one fixed dataset (``engram run`` on one config, a job array over one file)
is the user's to assert, with ``shard_by="load"``.

>>> plan = ShardPlan.from_weights({("memories", f"u{k}"): 8 for k in range(32)}, 2, by="load")
>>> plan.loads, plan.speedup_cap
((128, 128), 2.0)
>>> ShardPlan.from_weights({("memories", f"u{k}"): 8 for k in range(32)}, 2, by="hash").loads
(152, 104)
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Literal, get_args

from engram.errors import EngramError, ValidationError
from engram.modules._results import trajectory_values
from engram.trajectories import Trajectory

if TYPE_CHECKING:
    from engram.modules._manager import MemoryManager

ShardBy = Literal["load", "hash"]
Shard = tuple[int, int]
Key = tuple[str, ...]
ValuesArg = Callable[[Trajectory], Mapping[str, str]] | Mapping[str, str] | None
DEFAULT_SHARD_BY: ShardBy = "hash"


def _digest(key: Sequence[str]) -> int:
    text = json.dumps([str(part) for part in key], ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def namespace_shard(namespace: Sequence[str], count: int) -> int:
    """The shard (``0 .. count - 1``) a namespace belongs to under ``shard_by="hash"``: the
    same in every process and on every machine (a SHA-256 of the namespace, not Python's
    per-process ``hash()``).

    >>> namespace_shard(("memories", "u1"), 2) == namespace_shard(["memories", "u1"], 2)
    True
    >>> namespace_shard(("memories", "u1"), 1)
    0
    """
    return _digest(namespace) % count


def check_shard(shard: object) -> Shard | None:
    """``shard`` as ``(index, count)`` with ``0 <= index < count``, or a ValidationError."""
    if shard is None:
        return None
    ok = (isinstance(shard, (tuple, list)) and len(shard) == 2
          and all(isinstance(x, int) and not isinstance(x, bool) for x in shard))
    if not ok or not 0 <= shard[0] < shard[1]:  # type: ignore[index]
        raise ValidationError(f"shard must be (index, count) with 0 <= index < count, e.g. (0, 2) and (1, 2) "
                              f"for two processes; got {shard!r}.")
    return int(shard[0]), int(shard[1])  # type: ignore[index]


def check_shard_by(shard_by: object) -> ShardBy:
    """``shard_by`` if it is ``"load"`` or ``"hash"``, else a ValidationError saying which to pick."""
    if isinstance(shard_by, str) and shard_by in get_args(ShardBy):
        return shard_by  # type: ignore[return-value]
    raise ValidationError(f"shard_by must be 'load' (balanced by trajectory count; every process must be given "
                          f"the same dataset) or 'hash' (by namespace alone; any data); got {shard_by!r}.")


@dataclass(frozen=True)
class ShardPlan:
    """Which shard each namespace of one dataset belongs to, for ``count`` processes.

    ``shards`` maps every namespace (a trajectory whose namespace cannot be filled counts
    as ``("", its id)``, so its failure is reported by exactly one shard) to its shard;
    ``loads`` are the trajectories per shard. Build one with :meth:`from_weights`, or
    :func:`shard_plan` for what ``process()`` would do with a dataset (that one also maps
    each trajectory id to its shard in ``trajectory_shards``).
    """

    count: int
    by: ShardBy
    shards: Mapping[Key, int] = field(repr=False)
    loads: tuple[int, ...]
    trajectory_shards: Mapping[str, int] = field(default_factory=dict, repr=False)

    @classmethod
    def from_weights(cls, weights: Mapping[Sequence[str], int], count: int, *, by: ShardBy = DEFAULT_SHARD_BY
                     ) -> ShardPlan:
        """The plan for namespaces with these trajectory counts.

        ``"load"`` deals them heaviest first, each to the least-loaded shard (the greedy
        longest-processing-time rule: within 4/3 of the best split, and exact for equal
        weights). Equal weights go in the order of their SHA-256 and equal loads to the
        lower shard, so the plan depends on the weights alone, never on their order.

        >>> ShardPlan.from_weights({("a",): 5, ("b",): 3, ("c",): 2}, 2, by="load").loads
        (5, 5)
        """
        check_shard((0, count))
        by = check_shard_by(by)
        keys = {tuple(str(part) for part in ns): int(w) for ns, w in weights.items()}
        negative = [key for key, w in keys.items() if w < 0]
        if negative:
            raise ValidationError(f"weights are trajectory counts per namespace (0 or more); {negative[0]!r} has "
                                  f"{keys[negative[0]]}.")
        loads = [0] * count
        shards: dict[Key, int] = {}
        if by == "hash":
            for key, weight in keys.items():
                shards[key] = namespace_shard(key, count)
                loads[shards[key]] += weight
        else:
            heap = [(0, index) for index in range(count)]  # (load, shard): the least loaded, then the lowest
            for key in sorted(keys, key=lambda k: (-keys[k], _digest(k), json.dumps(k))):
                load, index = heapq.heappop(heap)
                shards[key] = index
                loads[index] = load + keys[key]
                heapq.heappush(heap, (loads[index], index))
        return cls(count=count, by=by, shards=shards, loads=tuple(loads))

    def shard_of(self, namespace: Sequence[str]) -> int:
        """The shard of a namespace of the plan's dataset (a KeyError for any other)."""
        return self.shards[tuple(str(part) for part in namespace)]

    @cached_property
    def fingerprint(self) -> str:
        """12 hex digits of SHA-256 over (by, count, every namespace -> shard): equal plans,
        equal fingerprints. With ``"load"`` every process of one run must report the same."""
        rows = sorted([list(key), shard] for key, shard in self.shards.items())
        blob = json.dumps({"by": self.by, "count": self.count, "shards": rows}, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]

    @property
    def speedup_cap(self) -> float:
        """The most ``count`` processes can speed up over one if every trajectory costs the
        same: all trajectories over the largest shard's (the largest shard finishes last)."""
        return round(sum(self.loads) / max(max(self.loads), 1), 4)

    def __str__(self) -> str:
        split = "/".join(map(str, self.loads))
        return f"{self.count} shards by {self.by}, plan {self.fingerprint}: {split} trajectories"


Keyed = tuple[Trajectory, dict[str, str], Key, EngramError | None]


def shard_keys(manager: MemoryManager, trajectories: Iterable[Trajectory], values: ValuesArg) -> list[Keyed]:
    """Each trajectory with its namespace values, its shard key and the error that keeps its
    namespace from being filled (then the key is ``("", its id)``)."""
    out: list[Keyed] = []
    for trajectory in trajectories:
        extra = values(trajectory) if callable(values) else (values or {})
        merged = {**trajectory_values(trajectory), **extra}
        try:
            out.append((trajectory, merged, tuple(manager.namespace.fill(merged)), None))
        except EngramError as err:
            out.append((trajectory, merged, ("", trajectory.id), err))
    return out


def plan_of(keyed: list[Keyed], count: int, by: ShardBy) -> ShardPlan:
    """The plan of trajectories keyed by :func:`shard_keys`, with each trajectory's shard."""
    plan = ShardPlan.from_weights(Counter(key for _, _, key, _ in keyed), count, by=by)
    return replace(plan, trajectory_shards={t.id: plan.shards[key] for t, _, key, _ in keyed})


def shard_plan(manager: MemoryManager, dataset: object, count: int, *, shard_by: ShardBy = DEFAULT_SHARD_BY,
               values: ValuesArg = None) -> ShardPlan:
    """The plan ``manager.process(dataset, shard=(i, count), shard_by=..., values=...)`` follows:
    the same in every process given the same dataset (see the module docstring). A coordinator
    can print it before starting the workers, and compare each worker's ``report.plan``::

        plan = shard_plan(manager, dataset, 4, shard_by="load")
        plan.loads, plan.speedup_cap, plan.fingerprint
        mine = [t for t in dataset if plan.trajectory_shards[t.id] == 0]   # shard 0's trajectories
    """
    from engram.trajectories import coerce

    check_shard((0, count))
    by = check_shard_by(shard_by)
    return plan_of(shard_keys(manager, coerce(dataset, what="shard_plan() dataset"), values), count, by)


__all__ = ["DEFAULT_SHARD_BY", "ShardBy", "ShardPlan", "check_shard", "check_shard_by", "namespace_shard",
           "plan_of", "shard_keys", "shard_plan"]
