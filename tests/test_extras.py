"""The optional extras in pyproject.toml and the README commands that use them.

``notebooks`` (JupyterLab, ipywidgets, nbconvert) and ``langchain`` (langchain-core only) are
declared, ``dev`` pulls both in (so ``make setup`` installs them and their versions resolve
with constraints.txt), and the README's "Open the notebooks" commands name that extra and
folders that exist. JupyterLab itself is never started here.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def extras() -> dict[str, list[Requirement]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {name: [Requirement(r) for r in reqs] for name, reqs in project["optional-dependencies"].items()}


def names(requirements: list[Requirement]) -> set[str]:
    return {r.name.lower() for r in requirements}


def test_the_notebooks_and_langchain_extras_declare_what_they_promise() -> None:
    declared = extras()
    assert names(declared["notebooks"]) == {"jupyterlab", "ipywidgets", "nbconvert"}
    assert names(declared["langchain"]) == {"langchain-core"}  # the adapter needs nothing else
    dev = declared["dev"]
    assert {frozenset(r.extras) for r in dev if r.name == "engram"} >= {frozenset({"notebooks"}),
                                                                          frozenset({"langchain"})}
    assert "langgraph" in names(dev)  # the LangGraph agent tests, not the extra


def test_the_extras_are_installed_at_versions_they_allow() -> None:
    # make setup installs .[dev], which includes both extras: a resolver conflict shows here.
    declared = extras()
    for requirement in [*declared["notebooks"], *declared["langchain"]]:
        version = metadata.version(requirement.name)
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)
    scripts = Path(sys.executable).parent
    assert (scripts / "jupyter-lab").exists() and (scripts / "jupyter-nbconvert").exists()


def test_the_readme_says_how_to_open_the_notebooks() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Open the notebooks", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    assert blocks[0].splitlines() == ["pip install -e '.[notebooks]'", "jupyter lab notebooks/"]
    assert "notebooks" in extras()
    headless = blocks[1].split()
    assert headless[:5] == ["jupyter", "nbconvert", "--to", "notebook", "--execute"]
    assert (REPO / headless[5]).is_file()
    assert (REPO / "notebooks").is_dir() and list((REPO / "notebooks").glob("*.ipynb"))
