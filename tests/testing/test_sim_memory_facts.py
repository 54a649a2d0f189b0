"""The simulated extractor (a stand-in) finds every fact the support dataset's users state."""

from engram import TrajectoryDataset
from engram.testing import World
from engram.testing._sim_memory import stated_facts


def test_every_stated_fact_in_the_support_dataset_is_extracted(repo_root):
    dataset = TrajectoryDataset.load(repo_root / "datasets" / "support.jsonl")
    found: dict[str, dict[str, str]] = {}
    for trajectory in dataset:
        for attribute, sentence, quote in stated_facts(trajectory.transcript()):
            found.setdefault(trajectory.user, {})[attribute] = sentence
            assert quote  # every fact keeps the words it came from
    for user in World(seed=0).users(8):
        facts = found[user.id]
        truth = dict(user.facts)
        truth["contact"] = truth.pop("contact_preference")
        assert set(facts) == set(truth), user.id
        for attribute, value in truth.items():
            assert value in facts[attribute], (user.id, attribute, facts[attribute])
