"""Group-aware train / validation split.

Trajectories that share a user *or* a thread are linked; linked trajectories form one
group (a connected component), and a group goes wholly to one side, so nothing one user
said, in any thread, leaks from training into validation.
"""

from __future__ import annotations

import hashlib

from engram.trajectories._types import Trajectory


def _components(trajectories: list[Trajectory]) -> list[list[int]]:
    parent = list(range(len(trajectories)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_seen: dict[tuple[str, str | None], int] = {}
    for index, t in enumerate(trajectories):
        for key in (("user", t.user), ("thread", t.thread)):
            if key[1] is None:
                continue
            if key in first_seen:
                parent[find(index)] = find(first_seen[key])
            else:
                first_seen[key] = index
    groups: dict[int, list[int]] = {}
    for index in range(len(trajectories)):
        groups.setdefault(find(index), []).append(index)
    return list(groups.values())


def group_split(trajectories: list[Trajectory], *, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices for (train, validation); groups are ordered by a seeded hash, then filled greedily."""
    groups = _components(trajectories)

    def order(group: list[int]) -> str:
        return hashlib.sha256(f"{seed}:{trajectories[group[0]].id}".encode()).hexdigest()

    groups.sort(key=order)
    target = round(len(trajectories) * val_fraction)
    val: list[int] = []
    train: list[int] = []
    for group in groups:
        # A group joins validation while that brings validation closer to its target size.
        if len(val) < target and abs(len(val) + len(group) - target) <= abs(len(val) - target):
            val.extend(group)
        else:
            train.extend(group)
    if not val and len(groups) > 1:  # every group overshoots: take the smallest one
        smallest = min(groups, key=len)
        val = list(smallest)
        train = [i for i in train if i not in set(smallest)]
    return sorted(train), sorted(val)
