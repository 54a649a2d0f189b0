"""Memories under LM faults: a faulty run plus a clean re-run must end exactly like a fault-free run.

    python benchmarks/faults.py                      # 1,000 updates, 30 % faults, 100 users
    python benchmarks/faults.py --updates 200 --users 20 --rate 0.5

The LM is the offline simulated world (``engram.testing.simulated_lm``, a stand-in, not a
model), wrapped in ``engram.testing.faulty_lm`` (provider errors, timeouts, malformed and
incomplete answers). Each simulated user states facts over time — where they live (and
later move), their plan, how to reach them, their diet — so the order of updates matters.

Three stores get the same data: a fault-free run (the reference), and a faulty run followed
by a clean re-run. Per user and fact, against the reference:

- **lost**: the reference holds the fact, the re-run store does not;
- **stale**: the re-run store holds an older value (``Lyon`` where the reference says ``Porto``);
- **duplicated**: two live memories for one fact, or one text twice;
- **corrupted**: a record that does not validate, whose text is not its content, or whose
  history is not versions 1..n.

Targets: 0 / 0 / 0 / 0. Then 8 threads call ``update()`` for one namespace against a serial
run of the same trajectories (same memories), and one trajectory is submitted from 8 threads
(applied once). Embeddings use a word-hash stand-in (what is measured is bookkeeping, not
retrieval quality: every user has fewer memories than the search limit, so all are shown).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import engram  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)

CITIES = ["Lyon", "Porto", "Oslo", "Lisbon", "Berlin", "Madrid", "Dublin", "Vienna"]
PLANS = ["Free", "Basic", "Pro", "Business"]
CONTACTS = ["email", "phone", "chat"]
DIETS = ["vegetarian", "vegan"]
PREFIXES = {"The user lives in ": "city", "The user is on the ": "plan", "The user prefers ": "contact",
            "The user is vege": "diet"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def statement(rng: random.Random) -> str:
    kind = rng.choice(["city", "move", "plan", "contact", "diet"])
    if kind == "city":
        return f"Hello. I live in {rng.choice(CITIES)}, and I need help with an invoice."
    if kind == "move":
        return f"I just moved to {rng.choice(CITIES)} and my address changed."
    if kind == "plan":
        return f"I'm on the {rng.choice(PLANS)} plan and the export fails."
    if kind == "contact":
        return f"I prefer {rng.choice(CONTACTS)} if you need to reach me."
    return f"Quick note: I'm {rng.choice(DIETS)}, please remember it."


def dataset(updates: int, users: int, seed: int = 0):
    from engram.trajectories import Trajectory, TrajectoryDataset

    rng = random.Random(seed)
    names = [f"user{i:03d}" for i in range(users)]
    items = []
    for n in range(updates):
        user = names[n % users]
        items.append(Trajectory(messages=[{"role": "user", "content": f"Ticket {n}. {statement(rng)}"},
                                          {"role": "assistant", "content": "Thanks, noted."}],
                                user=user, time=T0 + timedelta(minutes=n)))
    rng.shuffle(items)  # process() must restore time order per namespace
    return TrajectoryDataset(items)


class HashEmbedder:
    """Bag of hashed words (a stand-in embedder: instant, deterministic)."""

    @staticmethod
    def make():
        from engram.store import Embedder

        class _Hash(Embedder):
            spec = "bench:word-hash"

            def _embed(self, texts):
                out = []
                for text in texts:
                    vec = [0.0] * 64
                    for word in re.findall(r"[a-z0-9]+", text.lower()):
                        vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
                    vec[0] += 1e-3
                    out.append(vec)
                return out

        return _Hash()


def new_store():
    from engram.store import MemoryStore

    return MemoryStore.in_memory(embedder=HashEmbedder.make())


def manager(store, lm, namespace=("memories", "{user_id}")):
    from engram.modules import MemoryManager

    return MemoryManager(store, namespace, lm=lm, retries=1)


@dataclass
class Damage:
    lost: int = 0
    stale: int = 0
    duplicated: int = 0
    corrupted: int = 0
    spurious: int = 0

    def __str__(self) -> str:
        return (f"lost {self.lost}, stale {self.stale}, duplicated {self.duplicated}, corrupted {self.corrupted} "
                f"(targets 0/0/0/0); spurious {self.spurious}")


def facts(store, ns) -> tuple[dict[str, list[str]], int]:
    """Live memories by fact (attribute), and how many records are corrupted."""
    from engram.modules import Memory
    from engram.modules._schemas import content_text

    by_fact: dict[str, list[str]] = {}
    corrupted = 0
    for record in store.list(ns, limit=1000):
        try:
            Memory.model_validate(record.content)
            ok = record.text == content_text(record.content)
            ok = ok and [r.version for r in store.history(ns, record.id)] == list(range(1, record.version + 1))
        except Exception:  # noqa: BLE001 - any unreadable record is corrupted
            ok = False
        corrupted += not ok
        attribute = next((a for p, a in PREFIXES.items() if record.text.startswith(p)), record.text)
        by_fact.setdefault(attribute, []).append(record.text)
    return by_fact, corrupted


def compare(reference, store, users) -> Damage:
    damage = Damage()
    for user in users:
        ns = ("memories", user)
        want, _ = facts(reference, ns)
        have, corrupted = facts(store, ns)
        damage.corrupted += corrupted
        for attribute, texts in have.items():
            damage.duplicated += len(texts) - 1
            if attribute not in want:
                damage.spurious += 1
        for attribute, texts in want.items():
            if attribute not in have:
                damage.lost += 1
            elif sorted(set(have[attribute])) != sorted(set(texts)):
                damage.stale += 1
    return damage


def run_faults(updates: int, users: int, rate: float, seed: int = 0, concurrency: int = 8,
               echo=print) -> tuple[Damage, dict[str, int]]:
    from engram.testing import faulty_lm, simulated_lm

    data = dataset(updates, users, seed)
    names = sorted({t.user for t in data})
    reference = new_store()
    ref_report = manager(reference, simulated_lm(seed=seed)).process(data, concurrency=concurrency, progress=False)
    assert ref_report.failed == 0, "the fault-free run should not fail"

    store = new_store()
    lm = faulty_lm(simulated_lm(seed=seed), rate=rate, kinds=("exception", "timeout", "malformed", "missing_field"),
                   seed=seed)
    start = time.perf_counter()
    faulty = manager(store, lm).process(data, concurrency=concurrency, progress=False)
    mid = compare(reference, store, names)
    clean = manager(store, simulated_lm(seed=seed)).process(data, concurrency=concurrency, progress=False)
    seconds = time.perf_counter() - start
    damage = compare(reference, store, names)
    counts = {"faults injected": len(lm.engine.faults), "failed": faulty.failed, "blocked": faulty.blocked,
              "applied": faulty.applied, "re-run applied": clean.applied, "re-run failed": clean.failed}
    echo(f"{updates} updates over {users} users, {rate:.0%} injected faults (offline stand-in LM), "
         f"concurrency {concurrency}: {seconds:.1f} s")
    echo(f"  faulty run: {faulty}; {len(lm.engine.faults)} faults {lm.engine.counts()}")
    echo(f"  after the faulty run, before re-run (expected: work left to do): {mid}")
    echo(f"  clean re-run: {clean}")
    echo(f"  against the fault-free run: {damage}")
    return damage, counts


def run_threads(per_thread: int = 5, threads: int = 8, echo=print) -> dict[str, object]:
    """8 threads updating one namespace vs a serial run; one trajectory from 8 threads."""
    from engram.testing import scripted_lm
    from engram.testing._sim_memory import extract
    from engram.trajectories import Trajectory

    rng = random.Random(1)
    city, plan, contact = rng.choice(CITIES), rng.choice(PLANS), rng.choice(CONTACTS)
    texts = [f"Message {i}: I live in {city}. I'm on the {plan} plan. I prefer {contact} if you need to reach me."
             for i in range(per_thread * threads)]

    def world(latency=0.0):
        return scripted_lm(lambda call: {"ops": ""} if "refused" in call.inputs else extract(call), latency=latency)

    serial_store = new_store()
    serial = manager(serial_store, world(), ("memories", "one"))
    for text in texts:
        serial.update(text)
    store = new_store()
    parallel = manager(store, world(latency=0.005), ("memories", "one"))
    gate = threading.Barrier(threads)

    def worker(k: int) -> None:
        gate.wait()
        for text in texts[k::threads]:
            parallel.update(text)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    want = sorted(r.text for r in serial_store.list(("memories", "one"), limit=100))
    have = sorted(r.text for r in store.list(("memories", "one"), limit=100))

    lm = world(latency=0.01)
    once = manager(new_store(), lm, ("memories", "once"))
    talk = Trajectory(messages=[{"role": "user", "content": f"I live in {city}."}])
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda _: once.update(talk), range(threads)))
    applied = sum(not r.skipped for r in results)
    echo(f"{threads} threads x {per_thread} updates of one namespace: {len(have)} live memories vs "
         f"{len(want)} serial -> {'same' if have == want else 'DIFFERENT'}")
    echo(f"one trajectory submitted from {threads} threads: applied {applied} time(s), "
         f"{len(lm.engine.requests)} LM call(s) (target 1)")
    return {"same": have == want, "parallel": have, "serial": want, "applied_once": applied}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("engram").setLevel(logging.ERROR)  # thousands of expected failure warnings
    damage, _ = run_faults(args.updates, args.users, args.rate, args.seed, args.concurrency)
    threads = run_threads()
    clean = (damage.lost, damage.stale, damage.duplicated, damage.corrupted) == (0, 0, 0, 0)
    return 0 if clean and threads["same"] and threads["applied_once"] == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
