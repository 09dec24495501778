"""``POST /v1/embeddings``: OpenAI's embeddings API, served by the policy's ``embeddings`` section.

The section maps the model name a client sends (``text-embedding-3-small``, ``bge-m3``, …) to a
backend: an SGLang embedding model (``kind: sglang``, replicas launched with ``--is-embedding``,
tried in turn, the next one after a connection error or a 5xx) or any embedding model litellm
reaches (``kind: litellm``, ``litellm.aembedding``). No classifier, no tiers: the client names
the model.

Same gate as chat: the key from the headers (401; 429 over its rate limit or budget) before the
body is read. The body is allow-listed (``fields.EMBEDDINGS``; anything else is a 400 naming it)
and checked here, so a bad request never reaches a backend. Backends are always asked for floats;
``encoding_format: base64`` (the official SDKs' default) is encoded here, as OpenAI encodes it.
The input tokens the backend reports are charged to the key (tokens per minute, budget) at the
model's ``input_per_mtok`` and recorded under ``embeddings`` in ``/admin/stats``. Errors are in
OpenAI's shape: an unknown model is 404 ``model_not_found`` naming the ones served.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..backends.base import scrub
from ..backends.fields import check_embeddings
from ..errors import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    TierrouteError,
    UpstreamError,
    UpstreamStatus,
    UpstreamTimeout,
)
from ..parse import decode_json
from ..pipeline import Caller
from ..policy.model import EmbeddingBackend, LiteLLMEmbeddings, Policy, SGLangEmbeddings, Upstream
from ..runtime import Services
from ..stats.recorder import RequestRecord
from .http import Front, json_response

log = logging.getLogger("tierroute.access")

MAX_INPUTS = 2048  # OpenAI's limit on items per request
COST_HEADER = "x-tierroute-cost-usd"


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    model: str
    input: str | list[Any]  # as sent (a string, strings, tokens or token arrays), checked
    count: int
    base64: bool
    dimensions: int | None
    user: str | None


@dataclass(frozen=True, slots=True)
class Embedded:
    vectors: list[list[float]]
    prompt_tokens: int


def parse(body: dict[str, Any]) -> EmbeddingRequest:
    """The checked request; a 400 naming the field otherwise."""
    check_embeddings(body)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("'model' is required: the name of an embedding model (GET /v1/models lists them).",
                         param="model", code="missing_required_parameter" if model is None else "invalid_value")
    value = body.get("input")
    count = _count(value)
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise BadRequest(f"'encoding_format' must be 'float' or 'base64', not {fmt!r}.", param="encoding_format",
                         code="invalid_value")
    dims = body.get("dimensions")
    if dims is not None and (not isinstance(dims, int) or isinstance(dims, bool) or dims < 1):
        raise BadRequest("'dimensions' must be a positive integer.", param="dimensions", code="invalid_value")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise BadRequest("'user' must be a string.", param="user", code="invalid_value")
    assert isinstance(value, str | list)
    return EmbeddingRequest(model, value, count, fmt == "base64", dims, user)


def _count(value: Any) -> int:
    """How many vectors ``input`` asks for: a string, strings, a token array or token arrays."""
    def tokens(x: Any) -> bool:
        return isinstance(x, list) and bool(x) and all(isinstance(t, int) and not isinstance(t, bool) for t in x)

    if isinstance(value, str):
        n, texts = 1, [value]
    elif tokens(value):
        n, texts = 1, []
    elif isinstance(value, list) and value and all(isinstance(x, str) for x in value):
        n, texts = len(value), value
    elif isinstance(value, list) and value and all(tokens(x) for x in value):
        n, texts = len(value), []
    else:
        raise BadRequest("'input' must be a string, an array of strings, an array of token ids or an array of "
                         "token id arrays, and not empty.", param="input", code="invalid_value")
    if n > MAX_INPUTS:
        raise BadRequest(f"'input' holds at most {MAX_INPUTS} items; it holds {n}.", param="input",
                         code="invalid_value")
    if any(t == "" for t in texts):
        raise BadRequest("'input' cannot contain an empty string.", param="input", code="invalid_value")
    return n


def backend_for(policy: Policy, model: str) -> EmbeddingBackend:
    section = policy.embeddings
    if not section:
        raise NotFound("This proxy serves no embedding models: its policy has no `embeddings` section "
                       "(chat models cannot embed).", param="model")
    found = section.get(model)
    if found is None:
        raise NotFound(f"The embedding model {model!r} does not exist; this proxy serves "
                       f"{', '.join(repr(m) for m in sorted(section))}.", param="model")
    return found


def encode_base64(v: list[float]) -> str:
    """OpenAI's base64 encoding: the vector as little-endian float32 bytes."""
    return base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode("ascii")


def _vectors(data: Any, count: int, where: str) -> Embedded:
    """The vectors (in input order) and input tokens of an OpenAI-shaped answer; 502 if malformed."""
    try:
        items = sorted(data["data"], key=lambda d: d["index"])
        vectors: list[list[float]] = []
        for d in items:
            e = d["embedding"]
            if isinstance(e, str):
                raw = base64.b64decode(e)
                e = list(struct.unpack(f"<{len(raw) // 4}f", raw))
            if not isinstance(e, list) or not e or not all(isinstance(x, int | float) for x in e):
                raise TypeError("not a vector")
            vectors.append([float(x) for x in e])
        usage = data.get("usage") or {}
        tokens = usage.get("prompt_tokens") or usage.get("total_tokens") or 0
        if len(vectors) != count or not isinstance(tokens, int):
            raise ValueError(f"{len(vectors)} vectors for {count} inputs")
    except (KeyError, TypeError, ValueError, AttributeError, struct.error) as e:
        raise UpstreamError("The embedding model answered with a malformed body.",
                            detail=f"{where}: {type(e).__name__}: {e}") from None
    return Embedded(vectors, tokens)


class EmbeddingsService:
    """Calls the embedding backends; one HTTP client for SGLang replicas, litellm imported on first use."""

    def __init__(self, svc: Services, env: Mapping[str, str]) -> None:
        self.svc = svc
        self._env = env
        self._http = httpx.AsyncClient()
        self._turn = itertools.count()  # round robin over an SGLang model's replicas
        self._litellm: Any = None

    async def aclose(self) -> None:
        await self._http.aclose()

    def _key(self, name: str, env_var: str | None) -> str | None:
        if env_var is None:
            return None
        key = self._env.get(env_var, "").strip()
        if not key:
            raise UpstreamError(f"The embedding model {name!r} is not available: its key is not configured.",
                                detail=f"environment variable {env_var} is not set")
        return key

    async def embed(self, name: str, backend: EmbeddingBackend, req: EmbeddingRequest, timeouts: Upstream) -> Embedded:
        if isinstance(backend, SGLangEmbeddings):
            return await self._sglang(name, backend, req, timeouts.connect_timeout_s, timeouts.read_timeout_s)
        return await self._via_litellm(name, backend, req, timeouts.read_timeout_s)

    async def _sglang(self, name: str, b: SGLangEmbeddings, req: EmbeddingRequest, connect_s: float,
                      read_s: float) -> Embedded:
        key = self._key(name, b.api_key_env)
        headers = {"authorization": f"Bearer {key}"} if key else {}
        payload: dict[str, Any] = {"model": b.model, "input": req.input, "encoding_format": "float"}
        if req.dimensions is not None:
            payload["dimensions"] = req.dimensions
        if req.user is not None:
            payload["user"] = req.user
        urls = b.replica_urls()
        first = next(self._turn)
        last: TierrouteError | None = None
        for i in range(len(urls)):  # the next replica after a fault; a 4xx is the client's and final
            url = urls[(first + i) % len(urls)]
            where = f"embeddings {name} replica {url}"
            try:
                r = await self._http.post(url + "/v1/embeddings", json=payload, headers=headers,
                                          timeout=httpx.Timeout(read_s, connect=connect_s))
            except httpx.TimeoutException as e:
                last = UpstreamTimeout(f"The embedding model {name!r} timed out.", detail=f"{where}: {e!r}")
                continue
            except httpx.HTTPError as e:
                last = UpstreamError(f"The embedding model {name!r} could not be reached.", detail=f"{where}: {e!r}")
                continue
            if r.status_code == 200:
                try:
                    data = r.json()
                except ValueError:
                    data = None
                return _vectors(data, req.count, where)
            last = _status_error(name, r.status_code, _message(r), where)
            if not last.fault:
                raise last
        assert last is not None
        raise last

    async def _via_litellm(self, name: str, b: LiteLLMEmbeddings, req: EmbeddingRequest, read_s: float) -> Embedded:
        if self._litellm is None:
            from ..backends.litellm import _import_litellm

            self._litellm = await asyncio.to_thread(_import_litellm)
        kwargs: dict[str, Any] = {"model": b.model, "input": req.input, "timeout": read_s, "encoding_format": "float"}
        if b.api_base is not None:
            kwargs["api_base"] = str(b.api_base).rstrip("/")
        key = self._key(name, b.api_key_env)
        if key is not None:
            kwargs["api_key"] = key
        if req.dimensions is not None:
            kwargs["dimensions"] = req.dimensions
        if req.user is not None:
            kwargs["user"] = req.user
        where = f"embeddings {name} (litellm {b.model})"
        try:
            resp = await self._litellm.aembedding(**kwargs)
        except Exception as e:  # noqa: BLE001 - litellm raises many types; each is mapped, none swallowed
            status = getattr(e, "status_code", None)
            message = str(getattr(e, "message", None) or e)[:1000]
            if type(e).__name__ in ("Timeout", "APITimeoutError") or isinstance(e, asyncio.TimeoutError):
                raise UpstreamTimeout(f"The embedding model {name!r} timed out.", detail=f"{where}: {message}") \
                    from None
            raise _status_error(name, status if isinstance(status, int) else 502, message, where) from None
        data = resp.model_dump() if hasattr(resp, "model_dump") else dict(resp)
        return _vectors(data, req.count, where)


def _message(r: httpx.Response) -> str:
    try:
        data = r.json()
    except ValueError:
        return r.text[:1000]
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return str(err.get("message", ""))[:1000]
    if isinstance(data, dict) and "message" in data:
        return str(data["message"])[:1000]
    return r.text[:1000]


def _status_error(name: str, status: int, message: str, where: str) -> TierrouteError:
    """An upstream's error status for the client: 4xx (its request) with the upstream's words, addresses
    removed; 429 as 429; the upstream refusing our key, not knowing the model or path (404: the
    policy names it wrongly, or SGLang runs without --is-embedding) and 5xx as a neutral 502."""
    detail = f"{where} answered HTTP {status}: {message}"
    if status == 429:
        return UpstreamStatus(429, f"The embedding model {name!r} is rate limited; retry later.",
                              code="rate_limit_exceeded", detail=detail)
    if status in (401, 403, 404) or not 400 <= status < 500:
        return UpstreamError(f"The embedding model {name!r} is unavailable.", detail=detail)
    return UpstreamStatus(status, scrub(message) or f"HTTP {status}", detail=detail)


def routes(front: Front, service: EmbeddingsService) -> list[Route]:
    async def embeddings(request: Request, caller: Caller) -> Response:
        rt, svc = caller.rt, service.svc
        limit = rt.policy.upstream.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        raw = await request.body()
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        req = parse(decode_json(raw))
        backend = backend_for(rt.policy, req.model)
        try:
            out = await service.embed(req.model, backend, req, rt.policy.upstream)
        except TierrouteError as e:
            if e.detail is not None:
                e.name_request(caller.request_id)
                log.warning("embedding upstream error", extra={"request_id": caller.request_id, "detail": e.detail})
            svc.stats.record_embedding(RequestRecord(req.model, None, backend.model, e.status,
                                                     latency_s=svc.clock.now() - caller.started))
            raise
        cost = out.prompt_tokens * backend.input_per_mtok / 1e6
        svc.limits.charge(caller.principal, out.prompt_tokens, cost)
        latency = svc.clock.now() - caller.started
        svc.stats.record_embedding(RequestRecord(req.model, None, backend.model, 200, out.prompt_tokens,
                                                 cost_usd=cost, latency_s=latency))
        if log.isEnabledFor(logging.INFO):
            log.info("embeddings", extra={"request_id": caller.request_id, "model": req.model,
                                          "inputs": req.count, "input_tokens": out.prompt_tokens, "cost_usd": cost,
                                          "latency_ms": round(latency * 1000, 2)})
        data = [{"object": "embedding", "index": i, "embedding": encode_base64(v) if req.base64 else v}
                for i, v in enumerate(out.vectors)]
        return json_response({"object": "list", "data": data, "model": req.model,
                              "usage": {"prompt_tokens": out.prompt_tokens, "total_tokens": out.prompt_tokens}},
                             headers={COST_HEADER: f"{cost:.8f}"})

    return [Route("/v1/embeddings", front.route(embeddings), methods=["POST"])]
