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


def test_validate_refuses_an_empty_file(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = runner.invoke(app, ["datasets", "validate", str(empty)])
    assert result.exit_code == 1 and "ok:" not in result.stdout
    assert "no trajectories" in result.stderr


def _engram(*args: str, cwd):
    import os
    import subprocess
    import sys

    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    return subprocess.run([sys.executable, "-c", "from engram.cli import main; main()", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300, check=False)


def test_file_errors_are_one_line_not_a_traceback(tmp_path):
    """Directories, unwritable paths, binary files and broken YAML: `error: PATH: reason`, status 1."""
    source = write_sample(tmp_path / "in.jsonl")
    (tmp_path / "dir.txt").mkdir()
    (tmp_path / "bad.yaml").write_text("template: [1, 2\nname: }\n")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    target = source / "o.csv"  # under a file: cannot be written
    cases = {
        ("datasets", "convert", str(source), str(target)): f"{source}: File exists",
        ("prompts", "register", "support", str(tmp_path / "bad.yaml")): "bad.yaml:2: invalid YAML",
        ("prompts", "register", "support", str(tmp_path / "dir.txt")): "dir.txt: Is a directory",
        ("prompts", "register", "support", str(tmp_path / "binary.txt")): "binary.txt: not UTF-8 text",
    }
    for args, words in cases.items():
        result = runner.invoke(app, list(args))
        assert result.exit_code == 1, (args, result.exception)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], (args, lines)
    # The console script's own entry point: nothing but the one line either.
    done = _engram("prompts", "register", "support", "dir.txt", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == ["error: dir.txt: Is a directory"]
