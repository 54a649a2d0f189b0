"""Conversation archives: raw messages (kind ``"message"``) ranked for episodic recall.

:mod:`engram.store._archive._ranking` fuses dense similarity, BM25 (``bm25s``)
and neighbouring-turn context without any LM call; :mod:`.search` plugs it into
``MemoryStore.search(..., kind="message")``.
"""
