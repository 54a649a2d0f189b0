"""MemoryManager refuses a bad store or a bad number at construction, with the fix in the message."""

from __future__ import annotations

import pytest

import engram
from engram.modules import MemoryManager
from engram.store import MemoryStore


@pytest.mark.parametrize(("make", "expected"), [
    (lambda: MemoryManager("/tmp/store"), r"got the path '/tmp/store'.*MemoryStore.persistent\('/tmp/store'\)"),
    (lambda: MemoryManager(MemoryStore.persistent), "got the function MemoryStore.persistent; call it"),
    (lambda: MemoryManager(3), "store must be a MemoryStore"),
    (lambda: MemoryManager(MemoryStore.in_memory(), search_limit="5"), "search_limit must be an integer.*got str '5'"),
    (lambda: MemoryManager(MemoryStore.in_memory(), max_conversation_tokens=0), "max_conversation_tokens must be at least 1"),
    (lambda: MemoryManager(MemoryStore.in_memory(), max_conversation_tokens=-5), "max_conversation_tokens must be at least 1"),
    (lambda: MemoryManager(MemoryStore.in_memory(), retries="2"), "retries must be an integer"),
])
def test_bad_arguments_raise_at_construction(make, expected):
    with pytest.raises(engram.ValidationError, match=expected):
        make()


def test_no_token_limit_is_still_allowed():
    manager = MemoryManager(MemoryStore.in_memory(), max_conversation_tokens=None, search_limit=5)
    assert manager.extraction.max_conversation_tokens is None and manager.retrieval.search_limit == 5
