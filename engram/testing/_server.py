"""An OpenAI-compatible HTTP server on 127.0.0.1 backed by an offline engine (stand-in, not a model).

It lets code that only speaks HTTP — ``dspy.LM("openai/...", api_base=...)``, the OpenAI SDK,
another process — use the simulated world. Endpoints: ``POST /v1/chat/completions``
(with ``stream``), ``POST /v1/responses``, ``GET /v1/models``. Answers and token usage are
the ones the engine gives in-process; engine faults become HTTP errors (503, 429, 408)::

    with OfflineServer() as server:                       # the simulated world, a free port
        lm = dspy.LM("openai/offline-support", api_base=server.url, api_key="offline", cache=False)

From a shell (Ctrl-C stops it)::

    python -m engram.testing._server --port 8765 --latency 0.05
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from engram.testing._engine import OfflineEngine

DEFAULT_MODEL = "offline-support"
_ERROR_STATUS = {"RateLimitError": 429, "TimeoutError": 408, "ServerError": 503}


def _text(content: Any) -> str:
    """OpenAI content (a string or a list of parts) as plain text."""
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def chat_messages(body: dict[str, Any]) -> list[dict[str, str]]:
    """Messages from a chat-completions body (``developer`` counts as ``system``)."""
    out = []
    for m in body.get("messages") or []:
        role = m.get("role", "user")
        out.append({"role": "system" if role == "developer" else role, "content": _text(m.get("content"))})
    return out


def responses_messages(body: dict[str, Any]) -> list[dict[str, str]]:
    """Messages from a Responses-API body (``instructions`` + ``input``)."""
    out = []
    if body.get("instructions"):
        out.append({"role": "system", "content": str(body["instructions"])})
    items = body.get("input")
    if isinstance(items, str):
        return [*out, {"role": "user", "content": items}]
    for item in items or []:
        if item.get("type", "message") != "message":
            continue
        role = item.get("role", "user")
        out.append({"role": "system" if role == "developer" else role, "content": _text(item.get("content"))})
    return out


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and notebooks
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "code": status}})

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            model = {"id": self.server.model_name, "object": "model", "created": 0, "owned_by": "engram-offline"}
            self._send(200, {"object": "list", "data": [model]})
        else:
            self._error(404, f"no route GET {self.path}", "not_found")

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
        except (ValueError, json.JSONDecodeError) as exc:
            self._error(400, f"request body is not JSON: {exc}", "invalid_request_error")
            return
        path = self.path.rstrip("/")
        if path in ("/v1/chat/completions", "/chat/completions"):
            self._answer(body, chat_messages(body), self._chat_payload)
        elif path in ("/v1/responses", "/responses"):
            self._answer(body, responses_messages(body), self._responses_payload)
        else:
            self._error(404, f"no route POST {self.path}", "not_found")

    def _answer(self, body: dict[str, Any], messages: list[dict[str, str]], payload) -> None:
        if not messages:
            self._error(400, "no messages in the request", "invalid_request_error")
            return
        try:
            text, prompt_tokens, completion_tokens = self.server.engine.chat(messages)
        except Exception as exc:  # noqa: BLE001 - any engine failure (injected fault) becomes an HTTP error
            status = next((code for name, code in _ERROR_STATUS.items()
                           if any(c.__name__ == name for c in type(exc).__mro__)), 500)
            self._error(status, str(exc), type(exc).__name__)
            return
        with self.server.lock:
            self.server.served += 1
        model = body.get("model") or self.server.model_name
        if body.get("stream") and payload == self._chat_payload:
            self._stream(model, text, prompt_tokens, completion_tokens)
        else:
            self._send(200, payload(model, text, prompt_tokens, completion_tokens))

    @staticmethod
    def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens}

    def _chat_payload(self, model: str, text: str, prompt_tokens: int, completion_tokens: int) -> dict:
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
                "model": model, "system_fingerprint": "engram-offline-stand-in",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": self._usage(prompt_tokens, completion_tokens)}

    def _responses_payload(self, model: str, text: str, prompt_tokens: int, completion_tokens: int) -> dict:
        return {"id": f"resp_{uuid.uuid4().hex[:24]}", "object": "response", "created_at": int(time.time()),
                "status": "completed", "model": model,
                "output": [{"type": "message", "id": f"msg_{uuid.uuid4().hex[:24]}", "status": "completed",
                            "role": "assistant",
                            "content": [{"type": "output_text", "text": text, "annotations": []}]}],
                "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}

    def _stream(self, model: str, text: str, prompt_tokens: int, completion_tokens: int) -> None:
        """Server-sent events: one content chunk, a final chunk with usage, then [DONE]."""
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model}
        chunks = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
             "usage": self._usage(prompt_tokens, completion_tokens)},
        ]
        data = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        self._send(200, data.encode(), "text/event-stream")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], engine: OfflineEngine, model_name: str, verbose: bool):
        super().__init__(address, _Handler)
        self.engine = engine
        self.model_name = model_name
        self.verbose = verbose
        self.served = 0
        self.lock = threading.Lock()


class OfflineServer:
    """An OpenAI-compatible server for an offline engine on 127.0.0.1 (see the module docstring).

    ``port=0`` picks a free port. Use as a context manager, or ``start()`` / ``stop()``.
    """

    def __init__(self, engine: OfflineEngine | None = None, *, port: int = 0, model_name: str = DEFAULT_MODEL,
                 verbose: bool = False):
        if engine is None:
            from engram.testing._world import SimulatedEngine

            engine = SimulatedEngine()
        self.engine = getattr(engine, "engine", engine)  # an offline dspy.LM works too
        self._httpd = _Server(("127.0.0.1", port), self.engine, model_name, verbose)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The ``api_base`` to give a client: ``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def served(self) -> int:
        """Completions answered so far (errors not counted)."""
        return self._httpd.served

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="engram-offline-server",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(engine: OfflineEngine | None = None, port: int = 0, **kwargs: Any) -> OfflineServer:
    """Start an :class:`OfflineServer` in a background thread and return it (call ``stop()``)."""
    return OfflineServer(engine, port=port, **kwargs).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="OpenAI-compatible server backed by an engram offline "
                                                 "stand-in LM (127.0.0.1 only; not a real model).")
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--lm", default="support", help="offline LM name, e.g. support, support-slow, echo")
    parser.add_argument("--latency", type=float, default=None, help="seconds per call")
    parser.add_argument("--model-name", default=DEFAULT_MODEL)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    from engram.testing._registry import offline_lm

    engine = offline_lm(args.lm).engine
    if args.latency is not None:
        engine.latency = args.latency
    server = OfflineServer(engine, port=args.port, model_name=args.model_name, verbose=args.verbose)
    print(f"engram offline stand-in '{args.lm}' serving OpenAI-compatible API at {server.url}", flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()


if __name__ == "__main__":
    main()
