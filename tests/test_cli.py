import json
from pathlib import Path

from typer.testing import CliRunner

from engram import TrajectoryDataset, __version__
from engram.cli import app

runner = CliRunner()
MALFORMED = Path(__file__).parent / "data" / "malformed"


def write_sample(path):
    TrajectoryDataset([{"messages": [{"role": "user", "content": "hi"}], "feedback": {"score": 0.5},
                        "user": "u"}]).save(path)
    return path


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.stdout


def test_validate_ok_and_bad_files(tmp_path):
    good = write_sample(tmp_path / "good.jsonl")
    result = runner.invoke(app, ["datasets", "validate", str(good), str(MALFORMED / "score_too_high.jsonl")])
    assert result.exit_code == 1
    assert f"ok: {good}: 1 trajectories" in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "score_too_high.jsonl:2: field 'feedback.score'" in lines[0]


def test_stats_json(tmp_path):
    result = runner.invoke(app, ["datasets", "stats", "--json", str(write_sample(tmp_path / "a.jsonl"))])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["trajectories"] == 1


def test_convert_between_formats(tmp_path):
    src = write_sample(tmp_path / "a.jsonl")
    result = runner.invoke(app, ["datasets", "convert", str(src), str(tmp_path / "a.parquet")])
    assert result.exit_code == 0
    assert TrajectoryDataset.load(tmp_path / "a.parquet") == TrajectoryDataset.load(src)
    again = runner.invoke(app, ["datasets", "convert", str(src), str(tmp_path / "a.parquet")])
    assert again.exit_code == 1 and "--force" in again.stderr


def test_convert_writes_nothing_when_input_is_bad(tmp_path):
    for name in ["bad_json.jsonl", "not_utf8.jsonl", "score_too_high.jsonl"]:
        target = tmp_path / f"{name}.csv"
        result = runner.invoke(app, ["datasets", "convert", str(MALFORMED / name), str(target)])
        assert result.exit_code == 1 and result.stderr.startswith("error:")
        assert not target.exists()
    assert list(tmp_path.iterdir()) == []
