"""A simulated SGLang worker: SGLang's HTTP surface over a latency and prefix-cache model.

SGLang needs a GPU; tierroute's tests, demo and benchmarks (including runs against sgl-router)
talk to this instead. The engine model (queueing, TTFT, decode rate, speculative decoding,
radix cache) is described in :mod:`fleet.sim.engine`; replies are deterministic
(:mod:`fleet.sim.reply`); the wire shapes of the generation endpoints are in
:mod:`fleet.sim.worker_generate`.

Endpoints, matched to ``python/sglang/srt/entrypoints/http_server.py``:

* ``POST /v1/chat/completions``, ``POST /v1/completions`` -- OpenAI-compatible, streaming or
  not; chat does tools, ``response_format``, logprobs and images (:mod:`fleet.sim.worker_chat`);
  ``POST|PUT /generate`` -- native (``text`` or ``input_ids``, ``sampling_params``).
* ``GET /health``, ``GET /health_generate`` -- 200 with an empty body, 503 when unhealthy.
* ``GET /get_server_info`` -- server args (``model_path``, ``served_model_name``,
  ``max_running_requests``, ``max_total_tokens``, ``speculative_algorithm`` ...) merged with
  scheduler info (``max_total_num_tokens``, ``max_req_input_len``), ``internal_states`` (one
  per DP rank: ``last_gen_throughput``, ``avg_spec_accept_length``, ``memory_usage``, ``load``)
  and ``version``. sgl-router reads ``model_path``, ``dp_size``, ``version``, ``max_total_tokens``
  and ``max_running_requests`` from it at registration (``sgl-router/src/core/workflow/steps/
  worker_registration.rs``) after probing ``/health``.
* ``GET /get_model_info`` -- ``model_path``, ``tokenizer_path``, ``is_generation``, ...
* ``GET /get_load`` -- ``[{"dp_rank", "num_reqs", "num_waiting_reqs", "num_tokens"}]`` (what
  sgl-router's load monitor sums, ``sgl-router/src/core/worker_manager.rs``).
* ``GET /v1/models``, ``GET /v1/models/{model}`` -- SGLang's ``ModelCard`` list.
* ``GET|POST /flush_cache`` -- clears the radix cache; 400 while requests run or wait.
* ``GET /metrics`` -- Prometheus text, SGLang's names (:mod:`fleet.sim.metrics`).

With ``--api-key KEY`` every route but ``/health*``, ``/metrics`` and ``/sim/*`` answers 401
``{"error": "Unauthorized"}`` unless sent ``Authorization: Bearer KEY``, as SGLang's does.

Simulator controls (not in SGLang), for tests and benchmarks:

* ``GET /sim/stats`` -- totals since start/reset: ``requests``, ``prompt_tokens``,
  ``cached_tokens``, ``completion_tokens``, ``finished``, ``aborted``, ``failed``, and now:
  ``running``, ``queued``, ``cache_tokens_in_use`` (tokens in the radix tree), ``token_usage``...
* ``GET|POST /sim/health`` -- ``{"healthy": false}`` makes ``/health`` and generation requests
  answer 503 until ``{"healthy": true}``.
* ``POST /sim/fail`` -- ``{"fail_next": N, "status": 500}`` (``count`` is accepted for
  ``fail_next``): the next N generation requests fail with that status in SGLang's error shape;
  optional ``"message"`` (the error's text) and ``"retry_after"`` (seconds, a Retry-After header).
* ``POST /sim/fault`` -- ``{"mode": "hang_after_headers" | "malformed_sse" | null, "count": N}``:
  the next N generation requests (``-1``, the default: every one until ``{"mode": null}``) get a
  200 whose body never comes (the headers are sent, then nothing until the client hangs up), or a
  body that is not what the headers promise (broken SSE events on a stream, cut-off JSON
  otherwise).
* ``POST /sim/reset`` -- clears the cache, the counters and any pending failures or faults.

All state lives in the :class:`~fleet.sim.engine.SimEngine` made by :func:`create_app`.
"""

from __future__ import annotations

import argparse
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import metrics
from .engine import SimEngine, WorkerConfig
from .faults import FAULTS
from .worker_generate import JSON, GenerationApi

__all__ = ["WorkerConfig", "add_arguments", "config_from_args", "create_app"]

SGLANG_VERSION = "0.5.0.post1"  # the SGLang release whose surface this mirrors, loosely
FLUSHED = ("Cache flushed.\nPlease check backend logs for more details. (When there are running or waiting "
           "requests, the operation will not be performed.)\n")


def create_app(cfg: WorkerConfig) -> Starlette:
    """An ASGI app simulating one SGLang worker (state is private to this app)."""
    engine = SimEngine(cfg)
    gen = GenerationApi(engine)
    info = _InfoApi(engine)
    ctl = _ControlApi(engine)
    routes = [
        Route("/v1/chat/completions", gen.chat, methods=["POST"]),
        Route("/v1/completions", gen.completions, methods=["POST"]),
        Route("/v1/embeddings", gen.embeddings, methods=["POST"]),
        Route("/generate", gen.generate, methods=["POST", "PUT"]),
        Route("/health", info.health, methods=["GET"]),
        Route("/health_generate", info.health, methods=["GET"]),
        Route("/get_server_info", info.server_info, methods=["GET"]),
        Route("/get_model_info", info.model_info, methods=["GET"]),
        Route("/get_load", info.load, methods=["GET"]),
        Route("/v1/models", info.models, methods=["GET"]),
        Route("/v1/models/{model:path}", info.model, methods=["GET"]),
        Route("/flush_cache", ctl.flush_cache, methods=["GET", "POST"]),
        Route("/metrics", info.metrics, methods=["GET"]),
        Route("/sim/stats", ctl.stats, methods=["GET"]),
        Route("/sim/health", ctl.health, methods=["GET", "POST"]),
        Route("/sim/fail", ctl.fail, methods=["POST"]),
        Route("/sim/fault", ctl.fault, methods=["POST"]),
        Route("/sim/reset", ctl.reset, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.engine = engine
    if cfg.api_key is not None:
        app.add_middleware(_RequireKey, api_key=cfg.api_key)
    return app


class _RequireKey:
    """SGLang's ``--api-key`` (``add_api_key_middleware``): ``Authorization: Bearer <key>`` on every
    route except ``/health*`` and ``/metrics``, else 401 ``{"error": "Unauthorized"}``. The
    simulator's own ``/sim/*`` controls stay open, for tests."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self._app = app
        self._expected = b"Bearer " + api_key.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] != "OPTIONS" \
                and not scope["path"].startswith(("/health", "/metrics", "/sim/")):
            given = dict(scope["headers"]).get(b"authorization")
            if given != self._expected:
                await _json({"error": "Unauthorized"}, 401)(scope, receive, send)
                return
        await self._app(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _json({"detail": exc.detail}, exc.status_code)  # FastAPI's shape, as SGLang answers


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON)


class _InfoApi:
    def __init__(self, engine: SimEngine) -> None:
        self.engine = engine
        self.cfg = engine.cfg

    async def health(self, request: Request) -> Response:
        return Response(status_code=200 if self.engine.healthy else 503)

    def server_args(self) -> dict[str, Any]:
        cfg = self.cfg
        spec = cfg.speculative
        return {
            "model_path": cfg.served_model_path, "tokenizer_path": cfg.served_model_path,
            "served_model_name": cfg.model, "tokenizer_mode": "auto", "skip_tokenizer_init": False,
            "load_format": "auto", "trust_remote_code": False, "dtype": "auto", "kv_cache_dtype": "auto",
            "context_length": cfg.context_length, "is_embedding": False, "device": "cuda",
            "mem_fraction_static": 0.88, "max_running_requests": cfg.max_running_requests,
            "max_total_tokens": cfg.max_total_tokens, "chunked_prefill_size": 8192, "max_prefill_tokens": 16384,
            "schedule_policy": "fcfs", "schedule_conservativeness": 1.0, "page_size": 1, "tp_size": 1,
            "pp_size": 1, "dp_size": 1, "ep_size": 1, "stream_interval": 1, "random_seed": cfg.seed,
            "enable_metrics": True, "enable_cache_report": True, "disable_radix_cache": False,
            "speculative_algorithm": "EAGLE" if spec else None,
            "speculative_num_steps": 3 if spec else None,
            "speculative_eagle_topk": 1 if spec else None,
            "speculative_num_draft_tokens": metrics.SPEC_NUM_DRAFT_TOKENS if spec else None,
            "weight_version": "default", "api_key": None, "disaggregation_mode": "null",
            "tool_call_parser": cfg.tool_call_parser, "reasoning_parser": None, "grammar_backend": "xgrammar",
        }

    async def server_info(self, request: Request) -> Response:
        eng, cfg = self.engine, self.cfg
        args = self.server_args()
        state: dict[str, Any] = {
            **args,
            "last_gen_throughput": eng.gen_throughput(),
            "memory_usage": {"weight": 15.26, "kvcache": round(cfg.max_total_tokens * 0.000131, 2),
                             "token_capacity": cfg.max_total_tokens, "graph": 0.5},
            "load": eng.num_used_tokens,
            "waiting_queue_size": eng.slots.queued,
            "running_batch_size": eng.slots.running,
        }
        if cfg.speculative:
            state["avg_spec_accept_length"] = cfg.spec_accept_length
        return _json({**args, "max_total_num_tokens": cfg.max_total_tokens,
                      "max_req_input_len": cfg.context_length - 5, "internal_states": [state],
                      "version": SGLANG_VERSION})

    async def model_info(self, request: Request) -> Response:
        path = self.cfg.served_model_path
        return _json({"model_path": path, "tokenizer_path": path, "is_generation": True,
                      "preferred_sampling_params": None, "weight_version": "default",
                      "has_image_understanding": self.cfg.vision, "has_audio_understanding": False,
                      "model_type": "simulated", "architectures": ["SimulatedForCausalLM"]})

    async def load(self, request: Request) -> Response:
        eng = self.engine
        used = eng.num_used_tokens
        return _json([{"dp_rank": 0, "num_reqs": eng.slots.running + eng.slots.queued,
                       "num_waiting_reqs": eng.slots.queued, "num_tokens": used, "num_pages": used}])

    def _card(self) -> dict[str, Any]:
        name = self.cfg.model
        return {"id": name, "object": "model", "created": int(self.engine.started_at), "owned_by": "sglang",
                "root": name, "parent": None, "max_model_len": self.cfg.context_length}

    async def models(self, request: Request) -> Response:
        return _json({"object": "list", "data": [self._card()]})

    async def model(self, request: Request) -> Response:
        model = request.path_params["model"]
        if model != self.cfg.model:
            return _json({"error": {"message": f"The model '{model}' does not exist",
                                    "type": "invalid_request_error", "param": "model",
                                    "code": "model_not_found"}}, 404)
        return _json(self._card())

    async def metrics(self, request: Request) -> Response:
        return Response(metrics.render(self.engine), media_type=metrics.CONTENT_TYPE)


class _ControlApi:
    def __init__(self, engine: SimEngine) -> None:
        self.engine = engine

    async def flush_cache(self, request: Request) -> Response:
        eng = self.engine
        if eng.slots.running or eng.slots.queued:
            return Response(FLUSHED, status_code=400, media_type="text/plain")
        eng.cache.reset()
        return Response(FLUSHED, media_type="text/plain")

    async def stats(self, request: Request) -> Response:
        return _json(self.engine.stats())

    async def health(self, request: Request) -> Response:
        if request.method == "POST":
            body = await _body(request)
            healthy = body.get("healthy") if body is not None else None
            if not isinstance(healthy, bool):
                return _json({"error": "expected {\"healthy\": true|false}"}, 400)
            self.engine.healthy = healthy
        return _json({"healthy": self.engine.healthy})

    async def fail(self, request: Request) -> Response:
        body = await _body(request)
        if body is None:
            return _json({"error": "expected a JSON object"}, 400)
        count = body.get("fail_next", body.get("count", 1))
        status = body.get("status", 500)
        message, retry_after = body.get("message"), body.get("retry_after")
        if not (isinstance(count, int) and count >= 0 and isinstance(status, int) and 400 <= status <= 599
                and isinstance(message, str | None) and isinstance(retry_after, int | None)):
            return _json({"error": "expected {\"fail_next\": N >= 0, \"status\": 400..599, \"message\": str, "
                                   "\"retry_after\": seconds}"}, 400)
        eng = self.engine
        eng.fail_next, eng.fail_status, eng.fail_message = count, status, message
        eng.fail_retry_after = None if retry_after is None else str(retry_after)
        return _json({"fail_next": count, "status": status})

    async def fault(self, request: Request) -> Response:
        body = await _body(request)
        mode = body.get("mode") if body is not None else None
        count = body.get("count", -1) if body is not None else None
        if body is None or not (mode is None or mode in FAULTS) or not (isinstance(count, int) and count >= -1):
            return _json({"error": f"expected {{\"mode\": {' | '.join(FAULTS)} | null, \"count\": N >= -1}}"}, 400)
        eng = self.engine
        eng.fault, eng.fault_left = mode, (count if mode is not None else 0)
        return _json({"mode": mode, "count": eng.fault_left})

    async def reset(self, request: Request) -> Response:
        eng = self.engine
        eng.reset()
        eng.fail_next, eng.fail_message, eng.fail_retry_after = 0, None, None
        eng.fault, eng.fault_left = None, 0
        return _json(eng.stats())


async def _body(request: Request) -> dict[str, Any] | None:
    """The JSON object in a control request's body ({} when empty, None when not an object)."""
    raw = await request.body()
    try:
        data = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


# -- command line ------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``tierroute sim-worker`` (``--host``/``--port`` are added by the caller)."""
    d = WorkerConfig()
    g = parser.add_argument_group("simulated SGLang worker")
    g.add_argument("--model", "--served-model-name", dest="model", default=d.model,
                   help=f"served model name (default: {d.model})")
    g.add_argument("--model-path", default=None, help="model_path to report (default: the model name)")
    g.add_argument("--ttft-ms", type=float, default=d.ttft_ms, help="fixed time to first token in ms")
    g.add_argument("--prefill-tps", type=float, default=d.prefill_tokens_per_s,
                   help="prefill speed, uncached prompt tokens per second")
    g.add_argument("--decode-tps", type=float, default=d.decode_tokens_per_s,
                   help="decode speed per request, tokens per second (before speculative gains)")
    g.add_argument("--max-running-requests", type=int, default=d.max_running_requests,
                   help="running slots; more requests wait in the queue")
    g.add_argument("--max-total-tokens", type=int, default=d.max_total_tokens,
                   help="KV-cache (radix tree) capacity in tokens")
    g.add_argument("--context-length", type=int, default=d.context_length, help="model context length")
    g.add_argument("--speculative", action="store_true", help="simulate EAGLE speculative decoding")
    g.add_argument("--spec-accept-length", type=float, default=d.spec_accept_length,
                   help="average tokens committed per decode step when speculative")
    g.add_argument("--seed", type=int, default=d.seed, help="reply seed (same seed, same replies)")
    g.add_argument("--min-output-tokens", type=int, default=d.min_output_tokens,
                   help="shortest natural reply")
    g.add_argument("--max-output-tokens", type=int, default=d.max_output_tokens,
                   help="longest natural reply (max_tokens still caps it)")
    g.add_argument("--api-key", default=None,
                   help="require 'Authorization: Bearer KEY' as SGLang's --api-key does (not on /health, /metrics)")
    g.add_argument("--vision", action="store_true",
                   help="a multimodal model: image parts count as prompt tokens (a text-only one drops them)")
    g.add_argument("--tool-call-parser", default=d.tool_call_parser,
                   help=f"SGLang's --tool-call-parser (default: {d.tool_call_parser}); '' for none: "
                        "tool_choice 'auto' is then answered in prose")


def config_from_args(ns: argparse.Namespace) -> WorkerConfig:
    return WorkerConfig(
        model=ns.model, model_path=ns.model_path, ttft_ms=ns.ttft_ms, prefill_tokens_per_s=ns.prefill_tps,
        decode_tokens_per_s=ns.decode_tps, max_running_requests=ns.max_running_requests,
        max_total_tokens=ns.max_total_tokens, context_length=ns.context_length, speculative=ns.speculative,
        spec_accept_length=ns.spec_accept_length, seed=ns.seed, min_output_tokens=ns.min_output_tokens,
        max_output_tokens=ns.max_output_tokens, api_key=ns.api_key, vision=ns.vision,
        tool_call_parser=ns.tool_call_parser or None)

