"""The architecture rules of DESIGN.md, checked on the source (an AST import graph).

Every rule prints the offending ``file:line``. Each rule is also fed a synthetic bad
snippet, so a checker that stopped biting would fail here too.

Rules, for every module under ``engram/``:

1. ``importlib`` (any form, including ``from importlib import metadata``) only in
   ``engram/_lazy.py``: it is the one place that imports by name or reads entry points.
2. No ``import engram`` / ``from engram import x`` (the root) inside ``engram/``:
   import the submodule (``from engram.config import configure``, ``import engram.events``).
3. No import of another package's private module or name (``engram.store._store``,
   ``from engram.prompts import _DOUBLE``); the root's own helpers (``engram._lazy``,
   ``engram._files``, ``engram._tokens``) are the shared bottom layer and open to all.
4. Nothing outside ``engram/testing`` imports ``engram.testing``; nothing imports
   ``engram.integrations``.
5. No file-level import cycle. Imports at any depth count (inside functions too); imports
   under ``if TYPE_CHECKING:`` do not, because they never run.
6. No upward import in the layer order
   ``cli -> serve, runner -> tracking, optimizers -> modules -> store, loaders ->
   trajectories, prompts, config, lm -> errors, events`` (peers of one layer may import
   each other, rule 5 permitting). ``TYPE_CHECKING`` imports count here: a type is a
   dependency too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "engram"

# Higher imports lower; peers share a number. The root face (engram/__init__.py) re-exports
# everything lazily, so it sits on top; testing and integrations sit outside (None).
LAYERS: dict[str, int | None] = {
    "engram._lazy": 0, "engram._files": 0, "engram._tokens": 0, "engram._version": 0, "engram._cli_errors": 0, "engram.errors": 0, "engram.events": 0,
    "engram.trajectories": 1, "engram.prompts": 1, "engram.config": 1, "engram.lm": 1,
    "engram.store": 2, "engram.memory": 2, "engram.loaders": 2,
    "engram.modules": 3,
    "engram.tracking": 4, "engram.optimizers": 4,
    "engram.serve": 5, "engram.runner": 5,
    "engram.cli": 6,
    "engram": 7,
    "engram.testing": None, "engram.integrations": None,
}
OUTSIDE = ("engram.testing", "engram.integrations")
ROOT_HELPERS = ("engram._lazy", "engram._files", "engram._tokens", "engram._version", "engram._cli_errors")
IMPORTLIB_HOME = "engram._lazy"


@dataclass(frozen=True)
class Import:
    importer: str   # module doing the import
    target: str     # module imported (a submodule when ``from pkg import submodule``)
    names: tuple[str, ...]  # names taken by ``from x import a, b``
    path: str
    line: int
    type_only: bool  # under ``if TYPE_CHECKING:``
    root_form: bool  # ``import engram`` or ``from engram import x``


@dataclass
class Graph:
    modules: dict[str, Path] = field(default_factory=dict)
    imports: list[Import] = field(default_factory=list)


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, type_only: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield stmt, True
                yield from _walk(stmt, True)
            for stmt in child.orelse:
                yield stmt, type_only
                yield from _walk(stmt, type_only)
            continue
        yield child, type_only
        yield from _walk(child, type_only)


def parse_module(name: str, source: str, path: str, is_package: bool, known: set[str]) -> list[Import]:
    """Every import statement of one module, at any depth, resolved to module names."""
    found: list[Import] = []
    tree = ast.parse(source, filename=path)
    for node, type_only in _walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(name, alias.name, (), path, node.lineno, type_only,
                                    alias.name == "engram"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = tuple(a.name for a in node.names)
            submodules = [f"{module}.{n}" for n in names if f"{module}.{n}" in known]
            root_form = module == "engram"
            if submodules:
                for sub in submodules:
                    found.append(Import(name, sub, (), path, node.lineno, type_only, root_form))
                rest = tuple(n for n in names if f"{module}.{n}" not in known)
                if rest:
                    found.append(Import(name, module, rest, path, node.lineno, type_only, root_form))
            else:
                found.append(Import(name, module, names, path, node.lineno, type_only, root_form))
    return found


def build_graph(sources: dict[str, tuple[str, str, bool]]) -> Graph:
    """``sources``: module name -> (source text, display path, is a package ``__init__``)."""
    graph = Graph()
    known = set(sources)
    for name, (source, path, is_package) in sources.items():
        graph.modules[name] = Path(path)
        graph.imports.extend(parse_module(name, source, path, is_package, known))
    return graph


def load_sources(base: Path = PACKAGE) -> dict[str, tuple[str, str, bool]]:
    return {module_name(p, base): (p.read_text(encoding="utf-8"), str(p.relative_to(base.parent)),
                                   p.name == "__init__.py")
            for p in sorted(base.rglob("*.py"))}


def package_of(module: str) -> str:
    """``engram.store._store`` -> ``engram.store``; ``engram.lm`` -> ``engram.lm``; root -> root."""
    parts = module.split(".")
    return ".".join(parts[:2])


def layer_of(module: str) -> int | None:
    pkg = package_of(module)
    if pkg not in LAYERS:
        raise KeyError(pkg)
    return LAYERS[pkg]


def _internal(imp: Import) -> bool:
    return imp.target == "engram" or imp.target.startswith("engram.")


def _where(imp: Import) -> str:
    return f"{imp.path}:{imp.line}"


# -- the rules ------------------------------------------------------------------------------------
def importlib_violations(graph: Graph) -> list[str]:
    return [f"{_where(i)}: imports {i.target} (only engram/_lazy.py may use importlib)"
            for i in graph.imports
            if (i.target == "importlib" or i.target.startswith("importlib.")) and i.importer != IMPORTLIB_HOME]


def root_import_violations(graph: Graph) -> list[str]:
    return [f"{_where(i)}: imports the engram root package; import the submodule instead "
            f"(e.g. `from engram.config import ...`, `import engram.events`)"
            for i in graph.imports if i.root_form and i.importer != "engram"]


def private_violations(graph: Graph) -> list[str]:
    out = []
    for i in graph.imports:
        if not _internal(i) or package_of(i.target) == package_of(i.importer):
            continue
        parts = i.target.split(".")
        if i.target.startswith(ROOT_HELPERS):
            continue
        if any(p.startswith("_") for p in parts[1:]):
            out.append(f"{_where(i)}: imports private module {i.target}; use the face "
                       f"{package_of(i.target)}")
        elif any(n.startswith("_") and not n.startswith("__") for n in i.names):
            bad = [n for n in i.names if n.startswith("_") and not n.startswith("__")]
            out.append(f"{_where(i)}: imports private name(s) {bad} from {i.target}")
    return out


def outside_violations(graph: Graph) -> list[str]:
    out = []
    for i in graph.imports:
        if not _internal(i):
            continue
        for outside in OUTSIDE:
            if (i.target == outside or i.target.startswith(outside + ".")) and \
                    package_of(i.importer) != outside:
                out.append(f"{_where(i)}: imports {i.target}; production code never imports {outside}")
    return out


def layer_violations(graph: Graph) -> list[str]:
    out = []
    for i in graph.imports:
        if not _internal(i) or i.root_form:
            continue
        try:
            low, high = layer_of(i.target), layer_of(i.importer)
        except KeyError as err:
            out.append(f"{_where(i)}: package {err.args[0]} has no layer; add it to LAYERS in "
                       f"tests/test_architecture.py (and to DESIGN.md's layer order)")
            continue
        if low is None or high is None:
            continue  # testing/integrations: may import anything (rule 4 covers the other way)
        if low > high:
            out.append(f"{_where(i)}: {package_of(i.importer)} (layer {high}) imports "
                       f"{i.target} (layer {low}), a layer above it")
    return out


def cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), runtime imports only."""
    edges: dict[str, set[str]] = {m: set() for m in graph.modules}
    for i in graph.imports:
        if i.type_only or i.target not in graph.modules or i.target == i.importer:
            continue
        edges[i.importer].add(i.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def cycle_violations(graph: Graph) -> list[str]:
    out = []
    for component in cycles(graph):
        members = set(component)
        lines = [f"  {_where(i)}: {i.importer} -> {i.target}" for i in graph.imports
                 if i.importer in members and i.target in members and not i.type_only]
        out.append(f"import cycle between {', '.join(component)}:\n" + "\n".join(lines))
    return out


RULES = {
    "importlib": importlib_violations,
    "root": root_import_violations,
    "private": private_violations,
    "testing": outside_violations,
    "layers": layer_violations,
    "cycles": cycle_violations,
}


def _report(problems: Iterable[str]) -> str:
    return "\n".join(problems)


# -- the real package ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph(load_sources())


# Violations another change removes (issue 16's runner and MemoryManager steps). Each entry is a
# text the violation starts with and who removes it; an entry that matches nothing fails the
# test below, so the list only shrinks.
PENDING: dict[str, str] = {
}


def _pending(problem: str) -> bool:
    return any(problem.startswith(p) for p in PENDING)


@pytest.mark.parametrize("rule", list(RULES))
def test_engram_follows_the_rule(graph: Graph, rule: str) -> None:
    problems = [p for p in RULES[rule](graph) if not _pending(p)]
    assert not problems, f"{len(problems)} violation(s) of the {rule!r} rule:\n{_report(problems)}"


def test_pending_violations_are_still_there(graph: Graph) -> None:
    found = [p for check in RULES.values() for p in check(graph)]
    gone = [p for p in PENDING if not any(f.startswith(p) for f in found)]
    assert not gone, f"fixed, so remove from PENDING in tests/test_architecture.py: {gone}"


def test_the_graph_sees_the_whole_package(graph: Graph) -> None:
    # A parser that missed function-level imports would pass every rule vacuously.
    assert len(graph.modules) >= 100
    assert any(not i.type_only and i.importer == "engram.config" for i in graph.imports)
    lazy_imports = [i for i in graph.imports if i.target == "dspy"]
    assert len(lazy_imports) >= 10


# -- each rule bites ------------------------------------------------------------------------------
def _synthetic(files: dict[str, str]) -> Graph:
    sources = {}
    for name, text in files.items():
        is_package = name.endswith(".__init__")
        module = name.removesuffix(".__init__")
        sources[module] = (text, module.replace(".", "/") + ("/__init__.py" if is_package else ".py"),
                           is_package)
    return build_graph(sources)


BAD = {
    "importlib": ({"engram.store._x": "def f():\n    import importlib\n    importlib.import_module('x')\n"},
                  "engram/store/_x.py:2"),
    "importlib-metadata": ({"engram.lm": "from importlib import metadata\n"}, "engram/lm.py:1"),
    "root": ({"engram.tracking._x": "import engram\n"}, "engram/tracking/_x.py:1"),
    "root-from": ({"engram.modules._x": "x = 1\nfrom engram import events\n"}, "engram/modules/_x.py:2"),
    "private": ({"engram.modules._x": "from engram.store._store import MemoryStore\n",
                 "engram.store._store": ""}, "engram/modules/_x.py:1"),
    "private-name": ({"engram.tracking._x": "from engram.prompts import _DOUBLE\n"},
                     "engram/tracking/_x.py:1"),
    "testing": ({"engram.lm": "def f():\n    from engram.testing import offline_lm\n"}, "engram/lm.py:2"),
    "layers": ({"engram.store._x": "from engram.modules import MemoryManager\n"}, "engram/store/_x.py:1"),
    "cycles": ({"engram.config": "def f():\n    from engram.lm import reset_cache\n",
                "engram.lm": "from engram.config import get_settings\n"}, "engram/config.py:2"),
}
RULE_OF = {"importlib-metadata": "importlib", "root-from": "root", "private-name": "private"}


@pytest.mark.parametrize("case", list(BAD))
def test_the_rule_bites_on_a_bad_snippet(case: str) -> None:
    files, where = BAD[case]
    problems = RULES[RULE_OF.get(case, case)](_synthetic(files))
    assert problems and where in _report(problems), problems


def test_allowed_forms_pass() -> None:
    graph = _synthetic({
        "engram.modules._x": ("from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
                              "import engram.events as events\nfrom engram.config import get_settings\n"
                              "from engram.store import MemoryStore\nfrom engram._lazy import lazy_exports\n"
                              "from engram.modules._y import z\n"),
        "engram.modules._y": "if TYPE_CHECKING:\n    from engram.modules._x import a\n",
        "engram.testing._w": "from engram.store import MemoryStore\nfrom engram.runner import x\nimport importlib\n",
        "engram._lazy": "import importlib\nfrom importlib import metadata\n",
    })
    problems = {rule: check(graph) for rule, check in RULES.items()}
    # testing may import any layer, but through faces, and without importlib
    expected = "engram/testing/_w.py:3: imports importlib (only engram/_lazy.py may use importlib)"
    assert problems.pop("importlib") == [expected]
    assert all(not p for p in problems.values()), problems


# -- the faces mirror their lazy maps for type checkers ------------------------------------------
FACES = ["engram", "engram.store", "engram.modules", "engram.optimizers", "engram.tracking",
         "engram.runner", "engram.loaders", "engram.testing"]


@pytest.mark.parametrize("face", FACES)
def test_type_checking_block_mirrors_the_lazy_map(graph: Graph, face: str) -> None:
    import importlib as _importlib  # the test imports faces by name; engram itself never does

    module = _importlib.import_module(face)
    lazy = getattr(module, "_LAZY", None) or module._EXPORTS
    seen = {n: i.target for i in graph.imports if i.importer == face and i.type_only for n in i.names}
    missing = sorted(set(lazy) - set(seen))
    assert not missing, f"{face}/__init__.py: add to its TYPE_CHECKING block: {missing}"
    for name, target in lazy.items():
        target = target if target.startswith("engram") else f"{face}.{target}"
        assert seen[name] in (target, package_of(target)), (name, seen[name], target)
    assert set(lazy) <= set(module.__all__)


def test_the_package_ships_py_typed() -> None:
    assert (PACKAGE / "py.typed").exists()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text()
