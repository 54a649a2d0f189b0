"""The examples in engram's public docstrings run (as Optuna's and MLflow's do).

Collected: ``Example::`` / ``::`` literal blocks and ``>>>`` doctests in the docstrings of
every name a face exports (``engram``, ``engram.store``, ``engram.modules``, ...), of their
public methods, and of the module that defines each name (the feature's own page).

Each example runs offline with the globals of the module that defines it (as doctest runs
examples) and the names its face exports: ``ENGRAM_HOME`` and the working directory
are temporary (with ``datasets/`` and ``experiments/`` linked in), ``engram.configure(lm=
"offline/support")`` is in force, and real model names in the text (``"openai/gpt-4o-mini"``)
are read as the offline stand-in, because no provider is reachable here. A few names that
examples take as given (``train``, ``val``, ``trajectories``, ``messages``, ``store``,
``ns``, ``prompt``, ``optimizer``, ``result``, ...) are defined by :data:`SETUP` and
:data:`SETUP_IF_USED`; a line commented ``# raises ...`` or
``# SomeError: ...`` must raise an :class:`engram.EngramError`. Examples that need a server, or are fragments by design, are
listed in :data:`SKIP` with the reason; examples that fail today are in :data:`BROKEN`
(strict xfail: a fixed one must leave the list).
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FACES = ["engram", "engram.trajectories", "engram.store", "engram.modules", "engram.optimizers",
         "engram.tracking", "engram.runner", "engram.loaders", "engram.testing", "engram.lm",
         "engram.config", "engram.prompts", "engram.errors", "engram.events",
         "engram.integrations", "engram.integrations.langchain"]
SETUP = """
import dspy
import engram
from engram.prompts import Prompt
from engram.trajectories import Trajectory, TrajectoryDataset
from engram.store import MemoryStore
data = TrajectoryDataset.load("datasets/support.jsonl")[:8]
train, val = data.split_quietly(0.25, seed=0)   # 8 rows of few users: split() would warn in every example
trajectories = list(train)
messages = [{"role": "user", "content": "I moved to Lisbon last week"},
            {"role": "assistant", "content": "Thanks, noted!"}]
store = MemoryStore.in_memory()
ns = ("memories", "u1")
prompt = Prompt(name="support", template="You help {company} customers.")
dataset, held_out = data, data[4:]   # split() may leave val empty on 8 rows
optimizer = engram.GradientOptimizer()
"""
# Names that cost LM calls or a registry to make: defined only for the examples that use them.
SETUP_IF_USED = {
    "result": "result = optimizer(train, prompt)",
    "manager": "manager = engram.MemoryManager(store, namespace=('memories', '{user_id}'))",
    "reg": "reg = engram.PromptRegistry()",
    # The production loader's examples load what a release registered earlier: v1 @production, v2 @candidate.
    "support@production": ("_reg = engram.PromptRegistry()\n"
                           "for _text in ('You help {company} customers.', 'You help {company} customers. Be brief.'):\n"
                           "    _reg.register('support', _text)\n"
                           "_reg.promote('support', 1, 'production'); _reg.promote('support', 2, 'candidate')"),
}
# A statement whose comment says it raises (``# raises ...`` or ``# SomeError: ...``) must raise
# an engram error: examples show their error messages that way.
_RAISES = re.compile(r"#\s*(?:raises\b|[A-Z]\w*Error\b)")
_REAL_MODEL = re.compile(r"""(["'])(?:openai|anthropic|ollama|ollama_chat|azure|gemini|vertex_ai|groq|mistral)"""
                         r"""/[\w.\-:]+\1""")


@dataclass(frozen=True)
class Example:
    id: str        # "<where>#<n>", e.g. "engram.store.MemoryStore.put#0"
    code: str
    doctest: bool
    module: str    # its globals are the example's, as doctest does (plus the face's exports)
    face: str


def _literal_blocks(doc: str) -> Iterator[str]:
    lines = doc.expandtabs().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            base = len(line) - len(line.lstrip())
            j, body = i + 1, []
            while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > base):
                body.append(lines[j])
                j += 1
            code = textwrap.dedent("\n".join(body)).strip("\n")
            if code and ">>>" not in code:
                yield code
            i = j
            continue
        i += 1


def _documented() -> dict[str, tuple[object, str, str]]:
    """Where -> (object, its module, its face): every exported name, its public methods, and
    the module defining it."""
    found: dict[str, tuple[object, str, str]] = {}
    for face in FACES:
        module = importlib.import_module(face)
        found.setdefault(face, (module, face, face))
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if isinstance(obj, (str, int, float, tuple, list, dict, frozenset)) or obj is None:
                continue
            home = getattr(obj, "__module__", None) or ""
            if not home.startswith("engram"):
                continue
            found.setdefault(f"{face}.{name}", (obj, home, face))
            found.setdefault(home, (importlib.import_module(home), home, face))
            if inspect.isclass(obj):  # its own methods and those of engram mixins it inherits
                members = {a: m for base in reversed(obj.__mro__) if base.__module__.startswith("engram")
                           for a, m in vars(base).items()}
                for attr, member in members.items():
                    if attr.startswith("_") or not (callable(member) or isinstance(member, (property,
                                                                                         classmethod,
                                                                                         staticmethod))):
                        continue
                    found.setdefault(f"{face}.{name}.{attr}", (member, home, face))
    return found


def collect() -> list[Example]:
    examples: list[Example] = []
    seen_docs: set[str] = set()
    for where, (obj, home, face) in sorted(_documented().items()):
        target = obj.__func__ if isinstance(obj, (classmethod, staticmethod)) else obj
        target = target.fget if isinstance(target, property) else target
        doc = inspect.getdoc(target) if not inspect.ismodule(target) else target.__doc__
        if not doc or doc in seen_docs:
            continue
        seen_docs.add(doc)
        for n, code in enumerate(_literal_blocks(doc)):
            examples.append(Example(f"{where}#{n}", code, False, home, face))
        if ">>>" in doc:
            examples.append(Example(f"{where}#doctest", doc, True, home, face))
    return examples


# Not Python, or slow by design; each with the reason.
SKIP: dict[str, str] = {
    "engram.optimizers._formatting#0": "a sample of rendered output, not code",
    "engram.testing._server#1": "a shell command",
    "engram.runner._sweep#0": "a 12-trial sweep in 2 worker processes (80 s); tests/runner/test_sweep.py "
                              "runs the same path",
}
# Examples that fail today: strict xfail, with why and whose file it is (the lead assigns them).
BROKEN: dict[str, str] = {
    "engram.tracking._genai#0": "an app's `predict` and MLflow's LLM-judged Correctness() scorer; "
                                "tests/tracking/test_genai.py makes the same call in the simulated world",
}

EXAMPLES = collect()


def _run(example: Example) -> None:
    code = _REAL_MODEL.sub('"offline/support"', example.code)
    face = importlib.import_module(example.face)
    namespace: dict[str, object] = {n: getattr(face, n) for n in getattr(face, "__all__", [])}
    namespace.update(vars(importlib.import_module(example.module)))
    namespace["__name__"] = "__docstring_example__"
    exec(compile(SETUP, "<setup>", "exec"), namespace)  # noqa: S102  (running the examples is the point)
    for name, setup in SETUP_IF_USED.items():
        if re.search(rf"\b{name}\b", code):
            exec(compile(setup, "<setup>", "exec"), namespace)  # noqa: S102  (running the examples is the point)
    if example.doctest:
        parser = doctest.DocTestParser()
        test = parser.get_doctest(code, namespace, example.id, example.id, 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        runner.run(test)
        assert runner.failures == 0, f"{example.id}: {runner.failures} doctest failure(s)"
        return
    import ast

    from engram.errors import EngramError

    lines = code.splitlines()
    for statement in ast.parse(code).body:
        block = compile(ast.Module(body=[statement], type_ignores=[]), example.id, "exec")
        end = lines[(statement.end_lineno or statement.lineno) - 1]
        if _RAISES.search(end):
            with pytest.raises(EngramError):
                exec(block, namespace)  # noqa: S102  (running the examples is the point)
        else:
            exec(block, namespace)  # noqa: S102  (running the examples is the point)


@pytest.fixture
def offline_world(tmp_path, monkeypatch, _empty_db):
    import shutil

    import engram
    import engram.testing  # registers offline/ LM names

    work = tmp_path / "work"  # examples name ../shared/data/... beside the repository
    work.mkdir()
    # The default tracking store, empty: a copy, instead of seconds of MLflow migrations per example.
    (work / ".engram").mkdir()
    shutil.copy(_empty_db, work / ".engram" / "mlflow.db")
    for name in ("datasets", "experiments"):
        (work / name).symlink_to(ROOT / name)
    if SHARED.exists():
        (tmp_path / "shared").symlink_to(SHARED)
    monkeypatch.chdir(work)
    monkeypatch.setenv("ENGRAM_HOME", str(work / ".engram"))
    engram.configure(lm="offline/support")
    yield tmp_path


def _param(example: Example):
    if example.id in SKIP:
        return pytest.param(example, id=example.id, marks=pytest.mark.skip(reason=SKIP[example.id]))
    if example.id in BROKEN:
        return pytest.param(example, id=example.id, marks=pytest.mark.xfail(reason=BROKEN[example.id],
                                                                           strict=True))
    return pytest.param(example, id=example.id)


@pytest.mark.parametrize("example", [_param(e) for e in EXAMPLES])
def test_docstring_example_runs(example: Example, offline_world) -> None:
    if "../shared/" in example.code and not SHARED.exists():
        pytest.skip(f"the shared data sets are not at {SHARED}")
    _run(example)


def test_the_lists_name_only_existing_examples() -> None:
    ids = {e.id for e in EXAMPLES}
    assert not (set(SKIP) | set(BROKEN)) - ids, "remove stale entries from SKIP / BROKEN"
    assert len(EXAMPLES) >= 40  # the collector still finds the examples
