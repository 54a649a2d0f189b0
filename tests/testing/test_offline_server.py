"""The OpenAI-compatible offline server: real HTTP gives the same answers as the in-process LM."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import dspy
import pytest
from dspy.utils.exceptions import LMRateLimitError, LMServerError

from engram.lm import track_usage
from engram.testing._faults import faulty_lm
from engram.testing._server import OfflineServer
from engram.testing._world import SEED_PROMPT, World, simulated_lm


class Judge(dspy.Signature):
    conversation: str = dspy.InputField()
    score: float = dspy.OutputField()
    critique: str = dspy.OutputField()


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _run_program(lm):
    world = World(seed=0)
    user = world.users()[1]
    reply = world.respond(SEED_PROMPT, user.message(world.topic("cancel")))
    with dspy.context(lm=lm):
        a = dspy.Predict("message -> response")(message="I forgot my password").response
        b = dspy.ChainOfThought("system_prompt, message -> response")(
            system_prompt="Write any instructions as numbered steps. Be concise.", message="refund please").response
        judged = dspy.Predict(Judge)(conversation=f"user: I'm {user.name}.\nassistant: {reply}")
    return a, b, judged.score, judged.critique


@pytest.mark.parametrize("engine", [None, "litellm"], ids=["native", "litellm"])
def test_http_answers_equal_in_process_answers(engine):
    extra = {"engine": engine} if engine else {}
    with OfflineServer() as server:
        remote = dspy.LM("openai/offline-support", api_base=server.url, api_key="offline", cache=False,
                         num_retries=0, **extra)
        with track_usage() as usage:
            over_http = _run_program(remote)
        assert server.served == 3
    in_process = _run_program(simulated_lm(seed=0))
    assert over_http == in_process
    assert usage.calls == 3 and usage.prompt_tokens > 100 and usage.completion_tokens > 50


def test_usage_in_the_http_response_matches_the_engine():
    messages = [{"role": "system", "content": "Be concise."}, {"role": "user", "content": "refund please"}]
    engine = simulated_lm().engine
    text, prompt_tokens, completion_tokens = engine.chat(messages)
    with OfflineServer() as server:
        body = _post(server.url + "/chat/completions", {"model": "offline-support", "messages": messages})
        models = json.loads(urllib.request.urlopen(server.url + "/models", timeout=30).read())
        responses = _post(server.url + "/responses", {"model": "x", "instructions": "Be concise.",
                                                      "input": "refund please"})
    assert body["choices"][0]["message"]["content"] == text
    assert "Refunds" in text and "Thank you for reaching out" not in text  # plain chat follows its system prompt
    assert body["usage"] == {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                             "total_tokens": prompt_tokens + completion_tokens}
    assert models["data"][0]["id"] == "offline-support"
    assert responses["output"][0]["content"][0]["text"] == text
    assert responses["usage"]["input_tokens"] == prompt_tokens


def test_streaming_sends_content_usage_and_done():
    with OfflineServer() as server:
        request = urllib.request.Request(
            server.url + "/chat/completions", headers={"Content-Type": "application/json"},
            data=json.dumps({"messages": [{"role": "user", "content": "refund"}], "stream": True}).encode())
        raw = urllib.request.urlopen(request, timeout=30).read().decode()
    events = [line.removeprefix("data: ") for line in raw.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "Refunds" in chunks[0]["choices"][0]["delta"]["content"]
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_injected_faults_become_http_errors_that_dspy_maps():
    faulty = faulty_lm(simulated_lm(), rate=1.0, kinds=("exception",))
    with OfflineServer(faulty) as server:
        with pytest.raises(urllib.error.HTTPError) as info:
            _post(server.url + "/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
        assert info.value.code in (429, 503)
        remote = dspy.LM("openai/offline-support", api_base=server.url, api_key="offline", cache=False,
                         num_retries=0)
        with dspy.context(lm=remote), pytest.raises((LMServerError, LMRateLimitError)):
            dspy.Predict("message -> response")(message="refund")


def test_bad_requests_get_json_errors():
    with OfflineServer() as server:
        for path, body in (("/chat/completions", {"messages": []}), ("/nowhere", {})):
            with pytest.raises(urllib.error.HTTPError) as info:
                _post(server.url + path, body)
            assert info.value.code in (400, 404)
            assert "error" in json.loads(info.value.read())


def test_command_line_server_starts_and_answers():
    process = subprocess.Popen([sys.executable, "-m", "engram.testing._server", "--port", "0"],
                               stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "stand-in" in line and "http://127.0.0.1:" in line
        url = line.strip().rsplit(" ", 1)[-1]
        body = _post(url + "/chat/completions", {"messages": [{"role": "user", "content": "refund please"}]})
        assert body["choices"][0]["message"]["content"] == World(seed=0).respond("", "refund please")
    finally:
        process.terminate()
        process.wait(timeout=30)
