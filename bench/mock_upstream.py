"""A fast OpenAI-shaped mock upstream for the overhead benchmark (raw ASGI under uvicorn).

It answers like an SGLang replica as far as tierroute and LiteLLM need:

* ``POST /v1/chat/completions`` (and ``/chat/completions``, ``/v1/completions``): a whole
  ``chat.completion`` (``text_completion``), or with ``"stream": true`` an SSE stream of
  ``--chunks`` events (default 50: a role chunk, content chunks, a ``finish_reason`` chunk and,
  when ``stream_options.include_usage`` is set, the usage chunk with ``choices: []``), then
  ``data: [DONE]``. The ``model`` of the request is echoed back; every event is its own write.
* ``GET /health``, ``/health_generate``, ``/get_server_info``, ``/get_model_info``,
  ``/metrics``, ``/v1/models`` so that tierroute's health checks and server-info reads pass.

No framework, no per-request JSON encoding beyond one ``orjson.dumps`` for a whole answer: the
mock shares a core with the load generator, so every microsecond here is taken from the client.

Run: ``python bench/mock_upstream.py --port 9001 [--port 9002 ...]`` (several ports, one
process: the benchmark uses two so that two tiers can point at "different" replicas).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
COMPLETION_PATHS = frozenset({"/v1/completions", "/completions"})
DONE = b"data: [DONE]\n\n"


class Mock:
    """The ASGI app; ``chunks`` SSE events per stream (role, content..., finish, usage)."""

    def __init__(self, *, chunks: int = 50, models: tuple[str, ...] = ("mock-model",),
                 chunk_delay_s: float = 0.0, max_total_tokens: int = 300_000) -> None:
        self.content_chunks = max(1, chunks - 3)
        self.models = models
        self.chunk_delay_s = chunk_delay_s
        self.tokens = [f"tok{i} " for i in range(self.content_chunks)]
        self.text = "".join(self.tokens)
        self._deltas = [orjson.dumps({"content": t}) for t in self.tokens]
        self._ids = itertools.count()
        self.server_info = orjson.dumps({
            "model_path": models[0], "served_model_name": models[0], "max_running_requests": 4096,
            "max_total_tokens": max_total_tokens, "max_total_num_tokens": max_total_tokens,
            "max_req_input_len": 131_072,
            "dp_size": 1, "speculative_algorithm": None, "version": "mock-upstream",
            "internal_states": [{"last_gen_throughput": 0.0, "load": 0}]})
        self.model_info = orjson.dumps({"model_path": models[0], "tokenizer_path": models[0],
                                        "is_generation": True})
        self.model_list = orjson.dumps({"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "mock"} for m in models]})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "POST" and (path in CHAT_PATHS or path in COMPLETION_PATHS):
            body = await _read_body(receive)
            try:
                req = orjson.loads(body)
                if not isinstance(req, dict):
                    raise ValueError("not an object")
            except ValueError:
                await _answer(send, 400, _error("the body is not a JSON object"))
                return
            chat = path in CHAT_PATHS
            if req.get("stream"):
                await self._stream(send, req, chat)
            else:
                await _answer(send, 200, self._whole(req, chat))
            return
        if method != "GET":
            await _answer(send, 405, _error(f"{method} {path} is not allowed"))
        elif path in ("/health", "/health_generate"):
            await _answer(send, 200, b"", [])
        elif path == "/get_server_info":
            await _answer(send, 200, self.server_info)
        elif path == "/get_model_info":
            await _answer(send, 200, self.model_info)
        elif path == "/v1/models":
            await _answer(send, 200, self.model_list)
        elif path == "/metrics":
            await _answer(send, 200, b"", [(b"content-type", b"text/plain; version=0.0.4")])
        else:
            await _answer(send, 404, _error(f"unknown path {path}"))

    def _usage(self, req: dict[str, Any]) -> dict[str, int]:
        prompt = req.get("messages") if "messages" in req else req.get("prompt")
        prompt_tokens = max(1, len(orjson.dumps(prompt)) // 4)
        n = self.content_chunks
        return {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}

    def _whole(self, req: dict[str, Any], chat: bool) -> bytes:
        rid = f"mock-{next(self._ids)}"
        model = req.get("model") or self.models[0]
        if chat:
            choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": self.text},
                                      "logprobs": None, "finish_reason": "stop"}
            kind = "chat.completion"
        else:
            choice = {"index": 0, "text": self.text, "logprobs": None, "finish_reason": "stop"}
            kind = "text_completion"
        return orjson.dumps({"id": rid, "object": kind, "created": int(time.time()), "model": model,
                             "choices": [choice], "usage": self._usage(req)})

    async def _stream(self, send: Send, req: dict[str, Any], chat: bool) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        rid = f"mock-{next(self._ids)}".encode()
        model = orjson.dumps(req.get("model") or self.models[0])
        kind = b"chat.completion.chunk" if chat else b"text_completion"
        head = (b'data: {"id":"' + rid + b'","object":"' + kind + b'","created":' + str(int(time.time())).encode()
                + b',"model":' + model + b',"choices":[')
        tail = b"}\n\n"
        fin = b',"logprobs":null,"finish_reason":null}]'
        delay = self.chunk_delay_s

        async def event(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})
            if delay:
                await asyncio.sleep(delay)

        if chat:
            await event(head + b'{"index":0,"delta":{"role":"assistant","content":""}' + fin + tail)
            for delta in self._deltas:
                await event(head + b'{"index":0,"delta":' + delta + fin + tail)
            await event(head + b'{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]' + tail)
        else:
            await event(head + b'{"index":0,"text":""' + fin + tail)
            for tok in self.tokens:
                await event(head + b'{"index":0,"text":' + orjson.dumps(tok) + fin + tail)
            await event(head + b'{"index":0,"text":"","logprobs":null,"finish_reason":"stop"}]' + tail)
        options = req.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            await event(head + b'],"usage":' + orjson.dumps(self._usage(req)) + tail)
        await send({"type": "http.response.body", "body": DONE, "more_body": False})


async def _read_body(receive: Receive) -> bytes:
    msg = await receive()
    body = msg.get("body", b"")
    while msg.get("more_body"):
        msg = await receive()
        body += msg.get("body", b"")
    return body


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": (JSON_HEADERS if headers is None else headers)
                + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _error(message: str) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "code": None}})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        msg = await receive()
        if msg["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif msg["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def listen(host: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(4096)
    s.set_inheritable(True)
    return s


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, action="append", required=True, help="repeat to listen on several ports")
    p.add_argument("--chunks", type=int, default=50, help="SSE events per stream, usage chunk included")
    p.add_argument("--chunk-delay-ms", type=float, default=0.0, help="pause after each streamed event")
    p.add_argument("--model", action="append", help="model names listed at /v1/models (any name is served)")
    p.add_argument("--max-total-tokens", type=int, default=300_000,
                   help="KV-cache capacity reported at /get_server_info (tierroute sizes its affinity store by it)")
    ns = p.parse_args(argv)
    import uvicorn

    app = Mock(chunks=ns.chunks, models=tuple(ns.model or ["mock-model"]), chunk_delay_s=ns.chunk_delay_ms / 1000,
               max_total_tokens=ns.max_total_tokens)
    config = uvicorn.Config(app, loop="uvloop", http="httptools", lifespan="on", log_level="warning",
                            access_log=False, backlog=4096)
    uvicorn.Server(config).run(sockets=[listen(ns.host, port) for port in ns.port])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
