"""engram counts tokens as LiteLLM does, without importing LiteLLM (a 3 s import)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engram._tokens import count_chat_tokens, count_text_tokens

TEXTS = ["", "hello world", "Hi, I'm Maya from Lisbon. I forgot my password!",
         "def f(x):\n    return x ** 2  # code, emoji 🙂 and <|endoftext|>", "word " * 500,
         "Ünïcödé — «quotes» and 日本語のテキスト"]


@pytest.mark.parametrize("text", TEXTS)
def test_text_counts_equal_litellm(text: str) -> None:
    import litellm

    assert count_text_tokens(text) == litellm.token_counter(model="gpt-3.5-turbo", text=text)


def test_chat_counts_equal_litellm() -> None:
    import litellm

    conversations = [
        [],
        [{"role": "user", "content": "hello world"}],
        [{"role": "system", "content": "You help Acme customers."},
         {"role": "user", "content": TEXTS[2], "name": "maya"},
         {"role": "assistant", "content": TEXTS[3]}],
        [{"role": "user", "content": text} for text in TEXTS],
    ]
    for messages in conversations:
        assert count_chat_tokens(messages) == litellm.token_counter(model="gpt-3.5-turbo", messages=messages)


def test_counting_does_not_import_litellm() -> None:
    code = ("import sys, json; from engram._tokens import count_chat_tokens, count_text_tokens; "
            "n = count_text_tokens('hello world') + count_chat_tokens([{'role': 'user', 'content': 'hi'}]); "
            "print(json.dumps([n, 'litellm' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    count, imported = json.loads(out)
    assert count > 0 and imported is False
