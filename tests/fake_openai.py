"""A tiny OpenAI-compatible server in a thread: ``/v1/models`` and a scripted, streaming
``/v1/completions``, for the openai backend's fast tests.

The "model" answers every prompt from a script: its first token is the likeliest of
``first`` (a distribution, listed as logprobs when asked), the rest is ``rest[first]``.
A prompt that already ends in one of ``first``'s tokens (the backend appends the token it
chose) continues with that token's ``rest``. Every request body is kept in ``requests``.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Script:
    first: dict[str, float] = field(
        default_factory=lambda: {" El": 0.7, " No": 0.2, " La": 0.1}  # probabilities
    )
    rest: dict[str, list[str]] = field(
        default_factory=lambda: {
            " El": [" sol", " es", " una", " estrella", " [1].", "\nPregunta:", " otra"],
            " No": [" encuentro", " esto", " en", " tus", " notas."],
            " La": [" luz", " [1]."],
        }
    )
    models: list[str] = field(default_factory=lambda: ["tiny"])  # what it serves
    list_models: bool = True  # False: no /v1/models route (404), as on some servers
    logprobs: bool = True  # False: the server ignores a request for logprobs
    refuse_logprobs: bool = False  # a request for logprobs fails (llama.cpp, logits_all off)
    honour_stop: bool = True  # False: the server ignores ``stop``
    honour_max_tokens: bool = True  # False: the server streams its whole script
    fail: tuple[int, dict] | None = None  # (status, body) of every completions request
    fail_models: tuple[int, dict] | None = None  # the same for /v1/models
    delay_s: float = 0.0  # before answering a completions request
    # A broken server: every completions request answered 200 with these bytes as they are
    # (content type ``raw_type``), and /v1/models too when ``raw_models``.
    raw: bytes | None = None
    raw_type: str = "text/event-stream"
    raw_models: bool = False
    delay_models_s: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a delayed handler must not hold up the stop

    def handle_error(self, request, client_address) -> None:
        pass  # the client gave up on a delayed answer (the timeout tests): expected


class FakeOpenAIServer:
    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.requests: list[dict] = []
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    # -- the model ------------------------------------------------------------------------

    def tokens(self, prompt: str) -> tuple[list[str], bool]:
        """(the answer's tokens, whether the first of them is the answer's first)."""
        for token, rest in self.script.rest.items():
            if prompt.endswith(token):
                return list(rest), False
        first = max(self.script.first, key=self.script.first.get)
        return [first, *self.script.rest[first]], True

    def chunks(self, body: dict) -> list[dict]:
        tokens, fresh = self.tokens(body["prompt"])
        if self.script.honour_max_tokens:
            tokens = tokens[: body.get("max_tokens") or len(tokens)]
        finish = "length"
        if self.script.honour_stop and body.get("stop"):
            kept, text = [], ""
            for token in tokens:
                text += token
                if any(stop in text for stop in body["stop"]):
                    finish = "stop"
                    break
                kept.append(token)
            tokens = kept
        chunks = []
        for position, token in enumerate(tokens):
            logprobs = None
            if body.get("logprobs") and self.script.logprobs:
                if fresh and position == 0:
                    top = {t: math.log(p) for t, p in self.script.first.items()}
                else:
                    top = {token: 0.0}
                logprobs = {
                    "tokens": [token],
                    "token_logprobs": [top[token]],
                    "top_logprobs": [top],
                    "text_offset": [0],
                }
            chunks.append({"text": token, "index": 0, "logprobs": logprobs, "finish_reason": None})
        chunks.append({"text": "", "index": 0, "logprobs": None, "finish_reason": finish})
        return chunks

    # -- HTTP -----------------------------------------------------------------------------

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _raw(self, data: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                script = server.script
                if self.path != "/v1/models" or not script.list_models:
                    return self._json(404, {"detail": "Not Found"})
                server._stopping.wait(script.delay_models_s)
                if script.fail_models:
                    return self._json(*script.fail_models)
                if script.raw_models and script.raw is not None:
                    return self._raw(script.raw, script.raw_type)
                data = [{"id": name, "object": "model", "owned_by": "me"} for name in script.models]
                self._json(200, {"object": "list", "data": data})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                script = server.script
                server._stopping.wait(script.delay_s)
                if self.path != "/v1/completions":
                    return self._json(404, {"detail": "Not Found"})
                if script.fail:
                    return self._json(*script.fail)
                if script.raw is not None:
                    return self._raw(script.raw, script.raw_type)
                if script.refuse_logprobs and body.get("logprobs"):
                    message = "logprobs is not supported for models created with logits_all=False"
                    return self._json(500, {"error": {"message": message}})
                if body["model"] not in script.models:
                    message = f"The model `{body['model']}` does not exist"
                    error = {"message": message, "code": "model_not_found"}
                    return self._json(404, {"error": error})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for choice in server.chunks(body):
                    event = {"id": "cmpl-1", "object": "text_completion", "model": body["model"]}
                    event["choices"] = [choice]
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")

        return Handler
