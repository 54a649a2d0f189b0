import json

from engram.loaders._oasst import load_oasst, votes_to_feedback


def test_votes_and_rank_become_feedback():
    fb = votes_to_feedback({"emojis": {"+1": 3, "-1": 1}, "rank": 0}, siblings=3)
    assert fb.label == "thumbs_up" and fb.score == round(((4 / 6) + 1.0) / 2, 4)
    assert "3 up-votes" in fb.comment and "rank 1 of 3" in fb.comment
    flagged = votes_to_feedback({"emojis": {"+1": 5, "red_flag": 1}}, siblings=1)
    assert flagged.label == "red_flag" and flagged.score <= 0.1
    assert votes_to_feedback({"emojis": {"_skip_reply": 1}}, siblings=2) is None


def test_every_voted_path_becomes_a_trajectory(tmp_path):
    tree = {"message_tree_id": "tree1", "prompt": {
        "message_id": "root", "role": "prompter", "text": "Q1", "replies": [
            {"message_id": "a1", "role": "assistant", "text": "A1", "rank": 0, "emojis": {"+1": 2}, "replies": [
                {"message_id": "p2", "role": "prompter", "text": "Q2", "replies": [
                    {"message_id": "a2", "role": "assistant", "text": "A2", "emojis": {"-1": 1}, "replies": []}]}]},
            {"message_id": "a3", "role": "assistant", "text": "A3", "replies": []},  # unvoted
        ]}}
    path = tmp_path / "trees.jsonl"
    path.write_text(json.dumps(tree) + "\n")
    ds = load_oasst(path)
    convs = sorted([[m.content for m in t.messages] for t in ds])
    assert convs == [["Q1", "A1"], ["Q1", "A1", "Q2", "A2"]]
    assert {t.thread for t in ds} == {"tree1"}
    assert sorted(t.feedback.label for t in ds) == ["thumbs_down", "thumbs_up"]


def test_shipped_dataset_matches_the_loader(shared_data, repo_root):
    from engram import TrajectoryDataset

    shipped = TrajectoryDataset.load(repo_root / "datasets" / "oasst_feedback.jsonl")
    assert shipped == load_oasst(shared_data / "oasst_en_100_tree.jsonl")
    assert len(shipped) > 500 and all(t.feedback is not None for t in shipped)
