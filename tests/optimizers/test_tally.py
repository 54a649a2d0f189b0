"""TallyOptimizer: per-conversation reading, exposure-corrected tally, replayed search.

The statistics are checked without an LM; the optimizer runs on the hard world's stand-ins
(offline, not an LLM), which read each comment only partly and never see hidden state.
"""

import pytest

from engram.errors import ValidationError
from engram.optimizers import TallyOptimizer, create_prompt_optimizer
from engram.optimizers._tally_stats import Tally, fit_to_ratings, subsets, value
from engram.prompts import Prompt
from engram.testing import HARD_SEED_PROMPT, HardWorld
from engram.testing import _hard_methods as M
from engram.testing import _hard_rules as R
from engram.testing import _hard_standins as S
from engram.trajectories import Feedback, Trajectory

SHORT, LONG = "Keep answers short.", "Explain fully."


def _tally(rows):
    """rows: (follows SHORT?, asks) per reply; SHORT and LONG are labelled as opposites."""
    tally = Tally()
    for i, (short, asks) in enumerate(rows):
        reply = f"reply {i}"
        tally.add(reply, asks, incomplete=False, message=f"m{i}", prompt="P")
        tally.label(reply, {SHORT: short, LONG: not short}, complete=True)
    return tally


def test_support_is_corrected_for_exposure():
    # 9 of 10 replies are already short; the one long reply's user asks for short: every user who could miss it did.
    mostly_short = _tally([(True, [])] * 9 + [(False, [SHORT])])
    # 1 of 10 is short; 2 of the 9 long replies' users ask for short: more requests, a smaller share.
    mostly_long = _tally([(True, [])] + [(False, [SHORT])] * 2 + [(False, [])] * 7)
    assert mostly_short.support(SHORT) == pytest.approx(1.0)
    assert mostly_long.support(SHORT) == pytest.approx(2 / 9)
    assert mostly_short.support(SHORT) > mostly_long.support(SHORT)


def test_opposites_are_found_from_the_labels_and_netted():
    tally = _tally([(True, [LONG])] * 4 + [(False, [SHORT])] * 2 + [(False, [])] * 2)
    assert tally.opposites([SHORT, LONG]) == {SHORT: LONG, LONG: SHORT}
    assert tally.support(SHORT, LONG) == pytest.approx(2 / 4 - 4 / 4)
    assert subsets([SHORT, LONG, "Use a list."], tally.opposites([SHORT, LONG]), 2) == [
        (), (SHORT,), (LONG,), ("Use a list.",), (SHORT, "Use a list."), (LONG, "Use a list.")]


def test_incompleteness_weight_and_value():
    tally = Tally()
    for i, said in enumerate([True, False, True, True]):
        tally.add(f"r{i}", [], incomplete=said, message="m", prompt="P")
        tally.label(f"r{i}", {}, complete=False)
    assert tally.incompleteness_weight() == pytest.approx(0.75)
    assert Tally().incompleteness_weight(default=0.5) == 0.5
    assert value({SHORT: 0.4, LONG: -0.2}, {SHORT: 0.5, LONG: 1.0}, 0.5, 0.75) == pytest.approx(0.2 - 0.2 - 0.375)


def test_the_stand_ins_read_one_comment_and_check_one_reply():
    world = HardWorld(0)
    lm = world.lm()
    optimizer = TallyOptimizer(lm, task_lm=lm)
    reply = world.respond(HARD_SEED_PROMPT, world.users(1)[0].message(0))
    import dspy

    with dspy.context(lm=lm):
        read = optimizer.read(guidance="Never offer discounts.", known_instructions=[], replies=[reply, reply],
                              feedback=["Way too long. At least offer me a discount.", "Fine."])
        short = world.respond(HARD_SEED_PROMPT + "\n" + R.instruction_for("concise"), world.users(1)[0].message(0))
        checked = optimizer.check(replies=[reply, short], candidate_instructions=[
            R.instruction_for("concise"), R.instruction_for("concise", False)])
    assert read.requested_instructions == [[R.instruction_for("concise")], []]  # the guidance forbids the discount
    assert checked.followed == [[False, True], [True, False]]
    assert checked.complete == [True, True]


def _score(world, template):
    return world.true_score(template, M.held_out(world, 20))


def test_tally_learns_from_feedback_on_the_hard_world():
    seeds = range(4)
    gains, inverted, sink = [], [], []
    for seed in seeds:
        world = HardWorld(seed)
        out = M.run_tally(world)
        assert ("discount", True) not in R.directives(out.prompt)  # the developer's guidance holds
        base = _score(world, HARD_SEED_PROMPT)
        gains.append(_score(world, out.prompt) - base)
        inverted.append(_score(world, M.run_tally(world, transform=M.inverted).prompt) - base)
        sink.append(_score(world, M.kitchen_sink().prompt) - base)
    assert sum(gains) > 0
    assert sum(gains) > sum(inverted)
    assert sum(gains) > sum(sink)


def test_readings_accumulate_and_replays_are_reused_across_calls():
    world = HardWorld(1)
    lm = world.lm()
    optimizer = TallyOptimizer(lm, task_lm=lm)
    prompt = Prompt(name="support", template=HARD_SEED_PROMPT, update_instructions=M.GUIDANCE)
    tasks = []
    for week in range(2):
        before = lm.engine.roles.get("task", 0)
        result = optimizer(world.simulate(prompt.template, world.users(12, start=12 * week), offset=week), prompt)
        tasks.append(lm.engine.roles.get("task", 0) - before)
        assert result.metadata["readings"] == 24 * (week + 1)
        assert result.prompt.template.startswith(HARD_SEED_PROMPT)
        prompt = result.prompt
    assert tasks[1] < tasks[0]  # the same replay messages: prompts already replayed cost nothing


def test_nothing_to_read_or_a_chat_template_leaves_the_prompt_unchanged():
    world = HardWorld(0)
    lm = world.lm()
    scored_only = [Trajectory(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
                              feedback=Feedback(score=0.2))]
    result = TallyOptimizer(lm, task_lm=lm)(scored_only, "Be helpful.")
    assert result.prompt.template == "Be helpful." and "comment" in result.rationale
    assert lm.engine.calls == 0
    chat = Prompt(name="p", template=[{"role": "system", "content": "Be helpful."}])
    logs = world.simulate(HARD_SEED_PROMPT, world.users(2))
    result = TallyOptimizer(lm, task_lm=lm)(logs, chat)
    assert result.prompt.template == chat.template and "message list" in result.rationale


def test_bad_settings_raise_and_the_factory_builds_it():
    with pytest.raises(ValidationError, match="replay_messages must be at least 1"):
        TallyOptimizer(replay_messages=0)
    with pytest.raises(ValidationError, match="candidates must be an integer such as candidates=8, got str '8'"):
        TallyOptimizer(candidates="8")  # a string from a config file, not "'<' not supported"
    with pytest.raises(ValidationError, match="rating_prior must be a number"):
        TallyOptimizer(rating_prior="10")
    optimizer = create_prompt_optimizer(kind="tally", config={"candidates": 3, "max_reflection_steps": 2})
    assert isinstance(optimizer, TallyOptimizer) and optimizer.candidates == 3


def test_the_reader_sees_known_requests_and_wording_variants_count_as_one():
    from engram.testing import scripted_lm

    readings = iter([[["Keep answers short."]], [["keep answers short"]], [["Use a list."]]])

    def answer(call):
        if "requested_instructions" in call.output_fields:
            return {"requested_instructions": next(readings), "says_incomplete": [False]}
        if "followed" in call.output_fields:
            return {"followed": [[False, False]] * 3, "complete": [True] * 3}
        return {"response": "A reply."}

    lm = scripted_lm(answer)
    logs = [Trajectory(messages=[{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}],
                       feedback=Feedback(score=0.2, comment="meh")) for i in range(3)]
    result = TallyOptimizer(lm, task_lm=lm, read_batch=1)(logs, "Be helpful.")
    reads = [c for c in lm.engine.requests if "requested_instructions" in c.output_fields]
    assert "Keep answers short." not in reads[0].inputs["known_instructions"]
    assert "Keep answers short." in reads[1].inputs["known_instructions"]
    assert [row["instruction"] for row in result.metadata["tally"]] == ["Keep answers short.", "Use a list."]


def test_the_paraphrase_benchmark_wordings_mean_the_same_to_the_world():
    """benchmarks/tally_paraphrase.py is only a test of wording if every wording asks for the same thing."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "tally_paraphrase.py"
    spec = importlib.util.spec_from_file_location("tally_paraphrase", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for (behaviour, wanted), (canonical, *others) in module.WORDINGS.items():
        assert canonical == R.instruction_for(behaviour, wanted)
        assert all(R.directives(text) == [(behaviour, wanted)] for text in others)
    roles = S.ROLES
    with module.reader_role(module.paraphrasing_reader(0.5)):
        assert S.ROLES is not roles
    assert S.ROLES is roles


def test_to_frame_lists_every_request_with_its_support():
    world = HardWorld(2)
    lm = world.lm()
    optimizer = TallyOptimizer(lm, task_lm=lm)
    assert optimizer.to_frame().empty
    result = optimizer(world.simulate(HARD_SEED_PROMPT, world.users(12)),
                       Prompt(name="support", template=HARD_SEED_PROMPT, update_instructions=M.GUIDANCE))
    frame = optimizer.to_frame()
    assert list(frame.columns) == ["instruction", "asked", "followed", "support", "weight", "opposite", "base_rate"]
    assert (frame["asked"] > 0).all() and frame["followed"].between(0, 1).all()
    by_text = frame.set_index("instruction")["support"]
    for row in result.metadata["tally"]:  # the optimizer decided on the same figures
        assert by_text[row["instruction"]] == pytest.approx(row["support"], abs=1e-3)


def test_the_support_world_serves_tally_too():
    """offline/support (the plumbing world) answers the reader and the checker, so kind="tally" runs offline."""
    from pathlib import Path

    from engram.testing import offline_lm
    from engram.testing._traits import TRAITS
    from engram.trajectories import TrajectoryDataset

    data = list(TrajectoryDataset.load(Path(__file__).resolve().parents[2] / "datasets" / "support.jsonl"))
    lm = offline_lm("offline/support")
    seed = "You are the support assistant for Acme. Answer the customer's question."
    result = TallyOptimizer(lm, task_lm=lm)(data[:32], seed)
    added = result.prompt.template[len(seed):].split("\n")[1:]
    assert added and set(added) <= {t.instruction for t in TRAITS}
    assert set(added) <= {row["instruction"] for row in result.metadata["tally"]}


def _rated(rows):
    """rows: (follows A?, follows B?, rating) per reply; every user's comment asks for both A and B."""
    tally = Tally()
    for i, (a, b, score) in enumerate(rows):
        reply = f"reply {i}"
        tally.add(reply, ["A", "B"], incomplete=False, message="m", prompt="P", score=score)
        tally.label(reply, {"A": a, "B": b}, complete=True)
    return tally


def test_the_ratings_size_what_the_comments_point_at():
    # The comments back A and B equally; the ratings rise with A only.
    rows = [(a, b, 0.25 + 0.5 * a) for a in (False, True) for b in (False, True)] * 5
    tally = _rated(rows)
    weights, penalty = fit_to_ratings(tally, {"A": 0.5, "B": 0.5}, 0.5, strength=10)
    # One scale puts the comments' verdict in rating units: 0.5, so both priors are 0.25. The ratings
    # pull A up and B down from there; incompleteness, never seen, keeps its scaled prior.
    assert weights["A"] == pytest.approx(1 / 3) and weights["B"] == pytest.approx(1 / 6)
    assert penalty == pytest.approx(0.25)
    # A strong prior keeps the comments' proportions (one scale for all); a weak one follows the ratings.
    strong, _ = fit_to_ratings(tally, {"A": 0.5, "B": 0.5}, 0.5, strength=1e6)
    weak, _ = fit_to_ratings(tally, {"A": 0.5, "B": 0.5}, 0.5, strength=1e-6)
    assert strong["A"] == pytest.approx(strong["B"], abs=1e-4) and strong["A"] > 0
    assert weak["A"] == pytest.approx(0.5, abs=1e-3) and weak["B"] == pytest.approx(0.0, abs=1e-3)


def test_without_ratings_or_against_them_the_weights_do_not_flip_direction():
    unrated = _tally([(True, [SHORT]), (False, [])])
    assert fit_to_ratings(unrated, {SHORT: 0.4}, 0.3, strength=10) == ({SHORT: 0.4}, 0.3)
    all_zero = _rated([(a, not a, 0.0) for a in (False, True)] * 3)  # e.g. a seed prompt nobody likes
    assert fit_to_ratings(all_zero, {"A": 0.4, "B": 0.1}, 0.3, strength=10) == ({"A": 0.4, "B": 0.1}, 0.3)
    # Ratings that fall where the comments point: the scale is clipped at 0, so the prior is no evidence.
    against = _rated([(a, False, 0.75 - 0.5 * a) for a in (False, True)] * 6)
    weights, _ = fit_to_ratings(against, {"A": 0.5, "B": 0.2}, 0.5, strength=10)
    assert weights["A"] < 0 and weights["B"] == pytest.approx(0.0, abs=1e-9)


def test_the_optimizer_refits_to_ratings_unless_told_not_to():
    world = HardWorld(2)
    logs = world.simulate(HARD_SEED_PROMPT, world.users(12))
    prompt = Prompt(name="support", template=HARD_SEED_PROMPT, update_instructions=M.GUIDANCE)
    rows = {}
    for prior in (10.0, None):
        lm = world.lm()
        rows[prior] = {r["instruction"]: r for r in TallyOptimizer(lm, task_lm=lm, rating_prior=prior)(
            logs, prompt).metadata["tally"]}
    assert rows[10.0].keys() == rows[None].keys()
    assert all(r["weight"] == pytest.approx(r["support"], abs=1e-3) for r in rows[None].values())
    assert any(abs(r["weight"] - r["support"]) > 0.05 for r in rows[10.0].values())
    with pytest.raises(ValidationError, match="rating_prior must be above 0"):
        TallyOptimizer(rating_prior=0)


def test_instructions_never_followed_together_are_exclusive_when_chance_says_they_would_be():
    tally = Tally()
    rows = [(True, False)] * 6 + [(False, True)] * 6 + [(False, False)] * 4  # never both: 6 x 6 / 16 = 2.25 expected
    for i, (no_sorry, sorry) in enumerate(rows):
        tally.label(f"r{i}", {"Do not apologize.": no_sorry, "Open with an apology.": sorry, "Use a list.": i % 2 == 0})
    assert tally.exclusive(["Do not apologize.", "Open with an apology.", "Use a list."], min_expected=2.0) == {
        frozenset(("Do not apologize.", "Open with an apology."))}
    assert tally.exclusive(["Do not apologize.", "Open with an apology."], min_expected=4.0) == set()  # too little evidence
    banned = {frozenset(("Do not apologize.", "Open with an apology."))}
    assert ("Do not apologize.", "Open with an apology.") not in subsets(
        ["Do not apologize.", "Open with an apology.", "Use a list."], {}, 2, banned)


def _conflicts(prompt):
    per_line = [dict(R.directives(line)) for line in prompt[len(HARD_SEED_PROMPT):].splitlines() if line.strip()]
    return [b for i, a in enumerate(per_line) for c in per_line[i + 1:] for b in a if b in c and a[b] != c[b]]


def test_the_chosen_prompt_never_contradicts_itself():
    # On seed 6 the replays favour "Do not apologize." with "Open with a brief apology for the trouble."
    # (the world reads the first and the brevity of the second); the guard refuses that prompt.
    world = HardWorld(6)
    assert _conflicts(M.run_tally(world, exclude_contradictions=False).prompt) == ["apology"]
    assert _conflicts(M.run_tally(world).prompt) == []


def test_ratings_without_a_comment_count_in_the_fit_only():
    tally = _rated([(a, b, 0.5) for a in (False, True) for b in (False, True)])  # commented, flat ratings
    support = {x: tally.support(x) for x in ("A", "B")}
    weight = tally.incompleteness_weight()
    for i, (a, b) in enumerate([(True, False), (False, True)] * 6):  # silent users: they rate A up, B down
        tally.add(f"silent {i}", [], incomplete=False, message="m", prompt="P", score=0.75 if a else 0.25,
                  commented=False)
        tally.label(f"silent {i}", {"A": a, "B": b}, complete=False)
    assert {x: tally.support(x) for x in ("A", "B")} == support  # a rating asks for nothing
    assert tally.incompleteness_weight() == weight  # nor says the answer was incomplete
    weights, _ = fit_to_ratings(tally, {"A": 0.5, "B": 0.5}, 0.5, strength=10)
    assert weights["A"] > 0 > weights["B"]


def test_the_optimizer_reads_comments_and_keeps_every_rating():
    world = HardWorld(2)
    logs = list(world.simulate(HARD_SEED_PROMPT, world.users(12)))
    for t in logs[1::2]:  # half the users only rate
        t.feedback = t.feedback.model_copy(update={"comment": None})
    lm = world.lm()
    optimizer = TallyOptimizer(lm, task_lm=lm)
    result = optimizer(logs, Prompt(name="support", template=HARD_SEED_PROMPT, update_instructions=M.GUIDANCE))
    assert result.metadata["readings"] == 24 and result.metadata["commented"] == 12
    assert all(optimizer._tally.labels.get(t.messages[-1].content) for t in logs[1::2])  # silent replies checked
    # the same commented half alone gives other weights: the silent half's ratings were used
    lm = world.lm()
    alone = TallyOptimizer(lm, task_lm=lm)(
        logs[0::2], Prompt(name="support", template=HARD_SEED_PROMPT, update_instructions=M.GUIDANCE))
    both = {r["instruction"]: r["weight"] for r in result.metadata["tally"]}
    assert any(abs(both[r["instruction"]] - r["weight"]) > 0.01 for r in alone.metadata["tally"])
