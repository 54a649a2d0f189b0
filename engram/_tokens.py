"""Token counts without importing LiteLLM: cl100k (gpt-3.5-turbo's encoding) through tiktoken.

engram counts tokens for budgets and reports (``count_tokens``, the offline stand-ins'
usage). LiteLLM counts the same way but takes about three seconds to import, which an
offline run, a test or a searching process should not pay for a count. tiktoken needs its
encoding file; LiteLLM ships it for offline use, so it is read from there (as LiteLLM
itself does, through ``TIKTOKEN_CACHE_DIR``) without importing LiteLLM. Where that file
cannot be found, LiteLLM counts. The numbers equal ``litellm.token_counter`` (tested)::

    from engram._tokens import count_text_tokens, count_chat_tokens
    count_text_tokens("hello world")                                   # 2
    count_chat_tokens([{"role": "user", "content": "hello world"}])    # 9
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_MODEL = "gpt-3.5-turbo"
# OpenAI's chat accounting, as LiteLLM applies it to gpt-3.5-turbo: every message costs
# 3 tokens around its fields, a name 1 more, and the reply is primed with 3.
_PER_MESSAGE, _PER_NAME, _REPLY_PRIMING = 3, 1, 3
# tiktoken's merge loop is quadratic in the length of one regex piece (a long run of one
# character); encoding 1,024-character chunks keeps it linear, at a drift of at most a token
# per chunk boundary. LiteLLM chunks the same way, so the counts stay equal.
_CHUNK_CHARS = 1024

_lock = threading.Lock()
_encoding: Any = None


def _bundled_tiktoken_dir() -> str | None:
    for entry in sys.path:
        candidate = Path(entry or ".") / "litellm" / "litellm_core_utils" / "tokenizers"
        if candidate.is_dir():
            return str(candidate)
    return None


def _cl100k() -> Any:
    """The tiktoken encoding, or None when only LiteLLM can count here."""
    global _encoding
    with _lock:
        if _encoding is None:
            if "TIKTOKEN_CACHE_DIR" not in os.environ:
                bundled = _bundled_tiktoken_dir()
                if bundled is None:
                    _encoding = False
                    return None
                os.environ["TIKTOKEN_CACHE_DIR"] = bundled  # what importing LiteLLM would set
            try:
                import tiktoken

                _encoding = tiktoken.get_encoding("cl100k_base")
            except Exception:  # noqa: BLE001 - no tiktoken, or no file offline: LiteLLM counts
                _encoding = False
        return _encoding or None


def count_text_tokens(text: str) -> int:
    """cl100k tokens of ``text``, as ``litellm.token_counter(model="gpt-3.5-turbo", text=...)``."""
    encoding = _cl100k()
    if encoding is None:
        import litellm

        return int(litellm.token_counter(model=_MODEL, text=text))
    return _encoded_length(encoding, text)


def _encoded_length(encoding: Any, text: str) -> int:
    if len(text) > _CHUNK_CHARS:  # prompts repeat their long instructions call after call
        return _cached_length(encoding, text)
    return _raw_length(encoding, text)


@functools.lru_cache(maxsize=1024)
def _cached_length(encoding: Any, text: str) -> int:
    return _raw_length(encoding, text)


def _raw_length(encoding: Any, text: str) -> int:
    return sum(len(encoding.encode(text[start:start + _CHUNK_CHARS], disallowed_special=()))
               for start in range(0, len(text), _CHUNK_CHARS))


def count_chat_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Tokens of OpenAI-style chat ``messages`` with text fields, as LiteLLM counts them."""
    encoding = _cl100k()
    if encoding is None:
        import litellm

        return int(litellm.token_counter(model=_MODEL, messages=list(messages)))
    total = _REPLY_PRIMING
    for message in messages:
        total += _PER_MESSAGE
        for key, value in message.items():
            if isinstance(value, str):
                total += _encoded_length(encoding, value)
                if key == "name":
                    total += _PER_NAME
    return total
