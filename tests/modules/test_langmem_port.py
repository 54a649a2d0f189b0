"""Issue 14 acceptance: a LangMem program (the store manager filled from ``configurable.user_id``,
as in LangMem's "extract semantic memories" guide), ported by changing only the import line and
the model name, runs against a scripted LM (a stand-in) and writes what LangMem would write.

The LangMem side is written here in the shape of LangMem 0.0.30's documented usage (the same
calls, arguments and input dicts); the port is computed from it, and the test checks that the
two programs differ in exactly those two lines."""

from __future__ import annotations

import difflib
import json
import re

import pytest

from engram.store import MemoryStore
from engram.testing import _registry
from engram.testing._scripted import scripted_lm

LANGMEM_STORE_MANAGER = '''
from langmem import create_memory_store_manager
from pydantic import BaseModel


class Triple(BaseModel):
    """Facts and preferences as subject-predicate-object triples."""

    subject: str
    predicate: str
    object: str
    context: str | None = None


manager = create_memory_store_manager(
    "anthropic:claude-3-5-sonnet-latest",
    namespace=("chat", "{user_id}", "triples"),
    schemas=[Triple],
    instructions="Extract all user information and events as triples.",
    enable_inserts=True,
    enable_deletes=True,
)

manager.invoke(
    {"messages": [{"role": "user", "content": "I prefer dark mode"}]},
    config={"configurable": {"user_id": "user-a"}},
)
manager.invoke(
    {"messages": [{"role": "user", "content": "I prefer vim"}]},
    config={"configurable": {"user_id": "user-b"}},
)
'''

LANGMEM_MANAGER = '''
from langmem import create_memory_manager
from pydantic import BaseModel


class Triple(BaseModel):
    """Facts and preferences as subject-predicate-object triples."""

    subject: str
    predicate: str
    object: str
    context: str | None = None


manager = create_memory_manager(
    "anthropic:claude-3-5-sonnet-latest",
    schemas=[Triple],
    instructions="Extract user preferences and any other useful information",
    enable_inserts=True,
    enable_deletes=True,
)
memories = manager.invoke({"messages": [{"role": "user", "content": "I prefer dark mode"}]})
update = manager.invoke({"messages": [{"role": "user", "content": "I prefer light mode"}], "existing": memories})
existing = [m for m in update if isinstance(m.content, Triple)]
for memory_id, content in existing:
    print(memory_id, content.object)
'''

MODEL = "offline/langmem-port"


def _port(program: str) -> str:
    return program.replace("from langmem import", "from engram import").replace(
        '"anthropic:claude-3-5-sonnet-latest"', f'"{MODEL}"')


def _scripted():
    """Answers an extraction the way a model would: one Triple per stated preference, updating a
    listed one on the same subject-predicate (stand-in; it reads only the request)."""

    def answer(call):
        said = re.findall(r"I prefer ([\w ]+)", call.inputs.get("conversation", ""))
        listed = re.findall(r"^(\d+)\. (\{.*\})$", call.inputs.get("memories", ""), re.MULTILINE)
        ops = []
        for value in said:
            content = {"subject": "user", "predicate": "prefers", "object": value}
            same = next((i for i, text in listed if json.loads(text).get("predicate") == "prefers"), None)
            op = {"op": "update", "id": int(same)} if same else {"op": "insert"}
            ops.append({**op, "content": content, "quote": f"I prefer {value}"})
        return {"ops": "\n".join(json.dumps(o) for o in ops)}

    return scripted_lm(answer, name=MODEL)


def _changed_lines(a: str, b: str) -> list[str]:
    return [line for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_the_port_changes_only_the_import_and_the_model_name():
    for program in (LANGMEM_STORE_MANAGER, LANGMEM_MANAGER):
        changed = _changed_lines(program, _port(program))
        assert sorted(line[0] + line[1:].strip().split()[0] for line in changed) == sorted(
            ["-from", "+from", '-"anthropic:claude-3-5-sonnet-latest",', f'+"{MODEL}",'])


@pytest.fixture
def lm(monkeypatch):
    """The scripted LM, reachable by the ported program's model name (offline/langmem-port)."""
    lm = _scripted()
    monkeypatch.setitem(_registry._FACTORIES, "langmem-port", (lambda **_: lm, "the LangMem port test's LM"))
    return lm


def test_ported_store_manager_writes_into_the_configured_users_namespace(lm):
    exec(compile(_port(LANGMEM_STORE_MANAGER), "langmem_port.py", "exec"), {"__name__": "langmem_port"})  # noqa: S102  (running the port is the point)
    store = MemoryStore.from_settings()  # the store the manager used: the configured one, as LangMem's
    a = store.search(("chat", "user-a", "triples"), None)
    b = store.search(("chat", "user-b", "triples"), None)
    assert [(r.kind, r.content["object"]) for r in a] == [("Triple", "dark mode")]
    assert [(r.kind, r.content["object"]) for r in b] == [("Triple", "vim")]
    assert len(lm.engine.requests) == 2
    assert "Extract all user information and events as triples." in lm.engine.requests[0].instructions


def test_ported_memory_manager_updates_and_unpacks_like_langmem(lm, capsys):
    scope: dict = {"__name__": "langmem_port"}
    exec(compile(_port(LANGMEM_MANAGER), "langmem_port.py", "exec"), scope)  # noqa: S102  (running the port is the point)
    [(first_id, first)] = scope["memories"]
    [(memory_id, content)] = scope["existing"]
    assert (first.object, content.object) == ("dark mode", "light mode")
    assert memory_id == first_id  # the preference was updated in place, not duplicated
    assert capsys.readouterr().out.strip() == f"{memory_id} light mode"
