"""docs/migration.md: every ```python block runs, offline.

The page uses real model names ("openai/gpt-4o-mini"); here the ``openai/`` prefix builds
engram's simulated world (a stand-in, not a model), and ENGRAM_HOME is a temporary directory
(tests/conftest.py). A block whose first line is ``# needs: <part>`` waits for a part that
lands separately and is skipped with the reason listed in NEEDS.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "migration.md"
NEEDS = {
    "tools": "LangMem's argument order for the memory tools (create_manage_memory_tool(namespace, *, store)) "
             "lands with the tools work (issue 14, search/tools)",
    "langchain": "engram.integrations.langchain lands with the LangChain/LangGraph integration (issue 14)",
}
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    out = []
    for match in _BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        heading = re.findall(r"^## (.+)$", text[: match.start()], re.MULTILINE)
        out.append((f"line {line} ({heading[-1] if heading else 'top'})", match.group(1)))
    return out


BLOCKS = _blocks()


def test_the_page_covers_every_langmem_entry_point():
    text = DOC.read_text(encoding="utf-8")
    table = text.split("## The table", 1)[1].split("\n## ", 1)[0]
    for name in ("create_memory_manager", "create_memory_store_manager", "create_manage_memory_tool",
                 "create_search_memory_tool", "create_memory_searcher", "create_thread_extractor",
                 "create_prompt_optimizer", "create_multi_prompt_optimizer", "summarize_messages",
                 "asummarize_messages", "RunningSummary", "SummarizationNode", "ReflectionExecutor",
                 "ExtractedMemory", "NamespaceTemplate"):
        assert f"| `{name}` |" in table, name
    sections = "## " + text.split("## The table", 1)[1].split("\n## ", 1)[1]
    for name in ("create_memory_manager", "create_memory_store_manager", "create_manage_memory_tool",
                 "create_search_memory_tool", "create_memory_searcher", "create_thread_extractor",
                 "create_prompt_optimizer", "create_multi_prompt_optimizer", "summarize_messages",
                 "asummarize_messages", "RunningSummary", "ReflectionExecutor"):
        assert re.search(rf"^## .*\b{name}\b", sections, re.MULTILINE), f"no section for {name}"
        assert re.search(rf"```python\n(?:(?!```).)*\b{name}\b", sections, re.DOTALL), f"no code uses {name}"


@pytest.fixture
def offline_openai(monkeypatch):
    """``openai/...`` names build the simulated world (stand-in) for the page's snippets."""
    import engram.lm
    from engram.testing import simulated_lm

    lm = simulated_lm(name="offline/support")
    monkeypatch.setitem(engram.lm._prefixes, "openai/", lambda name: lm)
    engram.lm.reset_cache()
    yield lm
    engram.lm.reset_cache()


@pytest.mark.parametrize("code", [b[1] for b in BLOCKS], ids=[b[0] for b in BLOCKS])
def test_snippet_runs(code, offline_openai):
    first = code.lstrip().splitlines()[0]
    need = re.match(r"#\s*needs:\s*(\w+)", first)
    if need:
        pytest.skip(NEEDS[need.group(1)])
    exec(compile(code, str(DOC), "exec"), {"__name__": "migration_snippet"})  # noqa: S102  (running the snippets is the point)
    assert offline_openai.engine is not None
