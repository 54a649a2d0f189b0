"""Bad input to every public tracking entry point: an EngramError naming the problem, nothing written.

Prints how many bad inputs each entry point was given (run with -s to see the counts).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from engram.errors import EngramError
from engram.prompts import Prompt
from engram.tracking import _loader as loader
from engram.tracking._export import export_prompt, load_export, write_export
from engram.tracking._registry import PromptRegistry

NOT_TEXT = [None, 0, 1.5, True, [], {}, b"support", object(), math.nan, ("a",)]
BAD_NAMES = ["", "   ", "a/b", "a@b", "-lead", "x" * 300, "na me", "support\n", "../etc", "prompts:/x",
             "sup%port", "$", ".hidden"]
BAD_REFS = ["", "   ", "a/b/c", "@@", "name@", "prompts:/", "name/abc", "name@al ias", "a b", "/3", "@prod",
            "name/-1"]
BAD_TEMPLATES = ["", "   ", [], [{"role": "user"}], [{"content": "x"}], 5, None, {"template": "x"}, b"x",
                 object(), "Mixed {a} and {{b}}"]
BAD_ALIASES = ["", "latest", "v3", "V12", "has space", "a/b", "a@b", None, 3, "x" * 300, "ünï"]
BAD_VERSIONS = [0, -1, "abc", "", None, 1.5, True, [], "1.0", "-2"]


@pytest.fixture
def registry(tracking_uri) -> PromptRegistry:
    reg = PromptRegistry(tracking_uri)
    reg.register("support", "You help {company} customers.", "v1")
    reg.promote("support", 1, "production")
    return reg


def _state(registry: PromptRegistry, fallback: Path) -> tuple:
    return ({n: registry.versions(n) for n in registry.list()}, registry.aliases("support"),
            sorted(p.name for p in fallback.glob("*")) if fallback.exists() else [])


def _count(name: str, calls: list, capsys) -> None:
    failures = []
    for call in calls:
        try:
            call()
        except EngramError as err:
            assert str(err).strip(), call
            continue
        except Exception as err:  # noqa: BLE001
            failures.append(f"{type(err).__name__}: {err}")
            continue
        failures.append(f"no error: call {calls.index(call)}")
    with capsys.disabled():
        print(f"\n{name}: {len(calls)} bad inputs, {len(calls) - len(failures)} EngramError")
    assert len(calls) >= 20
    assert failures == []


def test_register(registry, tmp_path, capsys):
    before = _state(registry, tmp_path)
    calls = [lambda n=n: registry.register(n, "Hello {company}.") for n in BAD_NAMES + NOT_TEXT]
    calls += [lambda t=t: registry.register("support", t) for t in BAD_TEMPLATES]
    calls += [lambda t=t: registry.register("support", "Hi {company}.", tags=t)
              for t in ["tags", ["a"], {"mlflow.x": 1}, {"k": math.inf}, {"k": object()}, {"k": "x" * 6000},
                        {"": 1}, {3: "x"}]]
    calls += [lambda c=c: registry.register("support", "Hi {company}.", commit_message=c) for c in (3, [], b"m")]
    calls += [lambda c=c: registry.register("support", "Hi {company}.", lm_config=c)
              for c in ("gpt-4o", {"temperature": "hot"}, {"model_name": 3}, [1], {"response_format": "json"})]
    calls += [lambda v=v: registry.register("support", "Hi {company}.", parent_version=v) for v in (0, "x", -3)]
    calls.append(lambda: registry.register("support", "Hi {company}.", allow_variable_change="yes"))
    _count("register", calls, capsys)
    assert _state(registry, tmp_path) == before


def test_load(registry, tmp_path, capsys):
    before = _state(registry, tmp_path)
    calls = [lambda r=r: registry.load(r) for r in BAD_REFS + NOT_TEXT]
    calls += [lambda: registry.load("nosuch"), lambda: registry.load("support/9"), lambda: registry.load("support@x")]
    _count("PromptRegistry.load", calls, capsys)
    assert _state(registry, tmp_path) == before


def test_promote_rollback_delete_alias(registry, tmp_path, capsys):
    before = _state(registry, tmp_path)
    calls = [lambda a=a: registry.promote("support", 1, a) for a in BAD_ALIASES]
    calls += [lambda v=v: registry.promote("support", v, "staging") for v in BAD_VERSIONS + [9]]
    calls += [lambda n=n: registry.promote(n, 1, "staging") for n in BAD_NAMES[:6] + ["nosuch"]]
    _count("promote", calls, capsys)
    calls = [lambda a=a: registry.rollback("support", a) for a in BAD_ALIASES]
    calls += [lambda n=n: registry.rollback(n) for n in BAD_NAMES + ["nosuch"]]
    calls.append(lambda: registry.rollback("support", "staging"))
    _count("rollback", calls, capsys)
    calls = [lambda a=a: registry.delete_alias("support", a) for a in BAD_ALIASES + ["staging"]]
    calls += [lambda n=n: registry.delete_alias(n, "production") for n in BAD_NAMES]
    _count("delete_alias", calls, capsys)
    assert _state(registry, tmp_path) == before


def test_load_prompt(registry, tmp_path, capsys):
    before = _state(registry, tmp_path)
    calls = [lambda r=r: loader.load_prompt(r, fallback_dir=tmp_path) for r in BAD_REFS[:2] + NOT_TEXT]
    calls += [lambda t=t: loader.load_prompt("support@production", ttl=t, fallback_dir=tmp_path)
              for t in (-1, math.nan, math.inf, "60", None, True)]
    calls += [lambda u=u: loader.load_prompt("support@production", tracking_uri=u, fallback_dir=tmp_path)
              for u in ("", 5, [])]
    calls += [lambda d=d: loader.load_prompt("support@production", fallback_dir=d) for d in (5, "", [])]
    calls += [lambda f=f: loader.load_prompt("support@production", canary="support@candidate", fraction=f,
                                             key="u1", fallback_dir=tmp_path) for f in (-0.1, 1.1, math.nan, "0.2")]
    calls += [lambda k=k: loader.load_prompt("support@production", canary="support@candidate", fraction=0.1,
                                             key=k, fallback_dir=tmp_path) for k in (None, "", [], 1.5)]
    calls += [lambda: loader.load_prompt("support@production", key="u1", fallback_dir=tmp_path),
              lambda: loader.load_prompt("support@production", canary=5, key="u1", fallback_dir=tmp_path),
              lambda: loader.load_prompt("support@production", refresh="yes", fallback_dir=tmp_path),
              lambda: loader.load_prompt("nosuch@production", fallback_dir=tmp_path)]
    (tmp_path / "dirs").mkdir()
    (tmp_path / "dirs" / "support@production.json").mkdir()
    calls.append(lambda: loader.load_prompt("support@production", tracking_uri="http://127.0.0.1:9",
                                            fallback_dir=tmp_path / "dirs"))
    _count("load_prompt", calls, capsys)
    assert _state(registry, tmp_path)[:2] == before[:2]
    assert not list(tmp_path.glob("*.json"))  # no fallback file written for a refused call


def test_export_prompt_write_export_load_export(tmp_path, capsys):
    prompt = Prompt(name="support", template="Hi {company}.")
    calls = [lambda p=p: export_prompt(p, "json") for p in NOT_TEXT + ["text", {"name": "x"}]]
    calls += [lambda f=f: export_prompt(prompt, f) for f in ("xml", "", None, 3, "JSON", "pdf")]
    calls += [lambda v=v: export_prompt(prompt, "text", values=v) for v in ("x", [1], {})]
    _count("export_prompt", calls, capsys)
    (tmp_path / "adir").mkdir()
    calls = [lambda p=p: write_export(prompt, p) for p in (tmp_path / "adir", "", None, 5, [])]
    calls += [lambda p=p: write_export(p, tmp_path / "out.json") for p in NOT_TEXT]
    calls += [lambda f=f: write_export(prompt, tmp_path / "out2.json", f) for f in ("xml", 3, "pdf", [])]
    (tmp_path / "blocked").write_text("a file")
    calls.append(lambda: write_export(prompt, tmp_path / "blocked" / "x.json"))
    _count("write_export", calls, capsys)
    bad = tmp_path / "bad.json"
    bad.write_text("[" * 200_000 + "]" * 200_000)
    empty = tmp_path / "empty.json"
    empty.write_text("")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"name": "", "template": ""}')
    calls = [lambda p=p: load_export(p) for p in (tmp_path / "adir", tmp_path / "missing.json", bad, empty, wrong,
                                                   "", None, 5, [])]
    calls += [lambda: load_export(tmp_path / "blocked")] * 11  # not JSON / YAML of a prompt
    _count("load_export", calls, capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "bad.json", "blocked", "empty.json", "wrong.json"]
