from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

import engram
from engram.store import MemoryRecord, NamespaceTemplate, Provenance, validate_namespace
from engram.store._namespaces import collection_name, has_prefix, namespace_key, parse_namespace_key


def test_template_fills_and_names_missing_values():
    tpl = NamespaceTemplate(("memories", "{user_id}", "assistant"))
    assert tpl.fill({"user_id": "u1"}) == ("memories", "u1", "assistant")
    assert tpl.fields == ["user_id"]
    with pytest.raises(engram.NamespaceError, match="user_id"):
        tpl.fill({})
    with pytest.raises(engram.NamespaceError, match="not str"):
        tpl.fill({"user_id": 7})
    with pytest.raises(engram.NamespaceError, match="empty"):
        tpl.fill({"user_id": "  "})


def test_validate_namespace_rejects_bad_parts():
    assert validate_namespace("team") == ("team",)
    assert validate_namespace(["a", "b"]) == ("a", "b")
    for bad in [(), ("a", ""), ("a", 1), ("{user_id}",), 42]:
        with pytest.raises(engram.NamespaceError):
            validate_namespace(bad)


def test_a_lone_string_with_a_slash_is_refused_not_read_as_one_part(mem_store):
    mem_store.put(("support", "u1"), "home", "lives in Lisbon")
    # the CLI writes namespaces as "support/u1"; from Python that string would name another,
    # empty namespace, and the search would quietly find nothing
    with pytest.raises(engram.NamespaceError, match=r"\('support', 'u1'\)"):
        mem_store.search("support/u1", "where does the user live?")
    assert validate_namespace(("support/u1",)) == ("support/u1",)  # a slash inside a part, said so: fine
    assert [m.content for m in mem_store.search(("support", "u1"), "where does the user live?")] == ["lives in Lisbon"]


def test_record_derives_text_from_content():
    class Fact(BaseModel):
        subject: str
        fact: str

    rec = MemoryRecord(id="k", namespace=("n",), content=Fact(subject="u", fact="likes tea"))
    assert rec.content == {"subject": "u", "fact": "likes tea"}
    assert "likes tea" in rec.text and rec.version == 1 and rec.score is None
    rec2 = MemoryRecord(id="k", namespace=("n",), content="plain", provenance=[Provenance(trajectory_id="t1")])
    assert rec2.text == "plain" and rec2.provenance[0].trajectory_id == "t1"


parts = st.text(alphabet=st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)),
                min_size=1, max_size=8).filter(lambda s: s.strip())
namespaces = st.lists(parts, min_size=1, max_size=4).map(tuple)


@given(namespaces, namespaces)
def test_namespace_identity_and_prefix_are_part_wise(a, b):
    assert parse_namespace_key(namespace_key(a)) == a
    assert (collection_name("engram-", a) == collection_name("engram-", b)) == (a == b)
    assert has_prefix(a, b) == (a[: len(b)] == b)
    if len(a) == len(b) and a != b:
        assert not has_prefix(a, b)
    # joined strings may collide ("a","bc") vs ("ab","c"); namespaces never do
    assert (namespace_key(a) == namespace_key(b)) == (a == b)


@pytest.mark.parametrize("template", [("memories", "{user_id"), ("memories", "user_id}"),
                                      ("{org}", "{user}}"), ("m", "{{user_id}"), ("m", "{}")])
def test_template_with_unbalanced_or_empty_braces_is_refused(template):
    with pytest.raises(engram.NamespaceError, match="brace|empty field"):
        NamespaceTemplate(template)


def test_typo_template_cannot_merge_users_through_the_manager(mem_store):
    from engram.modules import MemoryManager

    with pytest.raises(engram.NamespaceError, match="unbalanced brace"):
        MemoryManager(mem_store, ("memories", "{user_id"))


def test_literal_namespace_with_a_brace_is_refused():
    for bad in [("memories", "{user_id"), ("a}",)]:
        with pytest.raises(engram.NamespaceError, match="brace"):
            validate_namespace(bad)


def test_adjacent_fields_without_a_separator_are_refused():
    with pytest.raises(engram.NamespaceError, match="side by side"):
        NamespaceTemplate(("m", "{user_id}{thread_id}"))


def test_separated_fields_refuse_values_holding_the_separator():
    tpl = NamespaceTemplate(("m", "{org}-{user}"))
    assert tpl.fill(org="acme", user="bob") == ("m", "acme-bob")
    # acme-eu + bob and acme + eu-bob would both be 'acme-eu-bob'
    with pytest.raises(engram.NamespaceError, match="org.*separates fields"):
        tpl.fill(org="acme-eu", user="bob")
    with pytest.raises(engram.NamespaceError, match="user.*separates fields"):
        tpl.fill(org="acme", user="eu-bob")
    # a field alone in its part may hold anything (parts are compared as a tuple)
    assert NamespaceTemplate(("{org}", "{user}")).fill(org="acme-eu", user="bob") == ("acme-eu", "bob")
    assert NamespaceTemplate(("m", "user-{user}")).fill(user="a-b") == ("m", "user-a-b")


def test_distinct_values_always_give_distinct_namespaces():
    import itertools

    tpl = NamespaceTemplate(("m", "{a}:{b}/{c}"))
    values = ["x", "x:", "y/z", "0", "10", "1", "u1", "u", ":", "a b"]
    seen: dict[tuple[str, ...], tuple[str, ...]] = {}
    for combo in itertools.product(values, repeat=3):
        try:
            ns = tpl.fill(a=combo[0], b=combo[1], c=combo[2])
        except engram.NamespaceError:
            continue
        assert seen.setdefault(ns, combo) == combo, (ns, seen[ns], combo)
    assert len(seen) > 100
