"""External providers through ``litellm.acompletion`` / ``litellm.atext_completion``.

Only allow-listed request fields become litellm arguments (:mod:`.fields`): litellm reads
fields such as ``api_base`` or ``extra_headers`` as instructions to itself.

litellm is imported in :meth:`LiteLLMBackend.start` (in a worker thread, once, only when the
policy has a litellm backend) with ``LITELLM_LOCAL_MODEL_COST_MAP=True`` so that the import
does not fetch the cost map over the network. Replies are normalised to OpenAI's wire shape:
litellm's synthetic usage chunk carries a non-empty ``choices`` (BerriAI/litellm#28735), so the
usage is lifted off whatever chunk carries it and sent last in a chunk with ``choices: []``.
Answers and chunks are trimmed to OpenAI's schema (:func:`openai_shape`): litellm adds fields of
its own (``provider_specific_fields`` on choices and messages, ``service_tier``, ``cost``,
``cache_read_input_tokens`` … inside ``usage``) that strict clients and schema checks refuse.

Public OpenAI parameters the model does not take (``seed`` or ``logit_bias`` for a Claude model)
are found from litellm's own table (``get_supported_openai_params``, once per model, cached here):
the pipeline drops or refuses them per policy (router/backends/fields.py, rule 5), and the call
never carries one, so litellm's ``UnsupportedParamsError`` is not met; if it is (a model litellm
cannot classify ahead), it becomes a 400 naming the parameters and the tier.

Anthropic's extensions (router/backends/fields.py, rule 6) go to Claude models (litellm places the
model: provider ``anthropic``, or a Claude model on ``bedrock`` / ``vertex_ai``) as litellm forwards
them: ``thinking``, ``cache_control`` on parts and tools, ``thinking_blocks`` on assistant messages,
server tools as they are, and, for provider ``anthropic``, documents as the Anthropic block itself (else
litellm's ``file`` part, which it turns into one). Other models: ``thinking`` becomes
``reasoning_effort`` where litellm's table has that and not ``thinking``, else it is a parameter the model
does not take; ``cache_control`` is removed and named; documents and server tools are a 400 naming them.
Answers keep litellm's ``thinking_blocks`` (signatures included) next to ``reasoning_content``.

Errors are mapped as SGLang's are, by :func:`.base.upstream_error` (context window errors keep
``context_length_exceeded``; timeouts → 504; connection errors → ConnectFailed): the provider's
text goes to the log, the client gets a neutral message unless the error is its own (4xx).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import orjson

from ..domain import Endpoint, Replica
from ..errors import BadRequest, TierrouteError
from . import fields
from .base import Reply, api_key, describe, timed_out, unreachable, upstream_error

_OWN_FIELDS = frozenset({"model", "messages", "prompt", "stream", "stream_options"})  # passed explicitly


class LiteLLMBackend:
    def __init__(self, *, connect_timeout_s: float, read_timeout_s: float,
                 env: Mapping[str, str] | None = None) -> None:
        self._timeout = read_timeout_s
        self._env: Mapping[str, str] = env if env is not None else os.environ
        self._litellm: Any = None
        self._supported: dict[str, frozenset[str] | None] = {}  # per model string: litellm's table (None: unknown)
        self._claude: dict[str, str | None] = {}  # per model string: its provider if a Claude model, else None

    async def start(self, models: Iterable[str] = ()) -> None:
        """Import litellm and look up what each of ``models`` takes, in a thread: both take about a
        second of import work the first time, which on the event loop (or racing it for the import
        lock) would stall every request in flight. Called at app start with the policy's models."""
        if self._litellm is None:
            self._litellm = await asyncio.to_thread(_import_litellm)
        new = [m for m in dict.fromkeys(models) if m not in self._supported]
        if new:
            found = await asyncio.to_thread(lambda: {m: _model_facts(self._litellm, m) for m in new})
            for m, (params, claude) in found.items():
                self._supported[m], self._claude[m] = params, claude

    async def aclose(self) -> None:
        return None

    async def _kwargs(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
        await self.start()  # normally done at app start; a reload may add the first litellm backend
        # The allow-list again, whoever the caller: a field litellm does not get from here cannot
        # steer it (api_base, api_key, extra_headers, ...; see router/backends/fields.py).
        allowed = fields.build("litellm", endpoint, body, replica.model, stream=False)
        skip = _OWN_FIELDS.union(await self._unsupported(replica.model, endpoint, allowed))  # the pipeline named them
        kw = {k: v for k, v in allowed.items() if k not in skip}
        if endpoint is Endpoint.CHAT:
            kw["messages"] = body["messages"]
            self._chat_extensions(replica.model, kw)
        else:
            kw["prompt"] = body["prompt"]
        kw.update(model=replica.model, timeout=self._timeout, max_retries=0)
        if replica.api_base:
            kw["api_base"] = replica.api_base
        key = api_key(replica, self._env)
        if key is not None:
            kw["api_key"] = key
        return kw

    async def unsupported(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any]) -> tuple[str, ...]:
        await self.start()
        names = await self._unsupported(replica.model, endpoint, body)
        if endpoint is not Endpoint.CHAT or self._claude.get(replica.model):
            return names
        found = fields.extensions(body)
        fields.refuse_extensions(replica, found)  # documents, server tools: Claude's alone
        return names + (fields.CACHE_CONTROL,) if found.cache_control else names

    async def _unsupported(self, model: str, endpoint: Endpoint, body: dict[str, Any]) -> tuple[str, ...]:
        checked = fields.MODEL_DEPENDENT[endpoint]
        names = [k for k in body if k in checked]
        if not names:
            return ()
        if model not in self._supported:  # litellm's first lookup imports provider modules: ~1 s, off the loop
            self._supported[model], self._claude[model] = await asyncio.to_thread(_model_facts, self._litellm, model)
        supported = self._supported[model]
        if supported is None:
            return ()
        if "thinking" in names and "thinking" not in supported and (
                fields.effort(body["thinking"]) is None or "reasoning_effort" in supported):
            names.remove("thinking")  # disabled: nothing to ask; enabled: sent as reasoning_effort
        return tuple(k for k in names if k not in supported)

    def _chat_extensions(self, model: str, kw: dict[str, Any]) -> None:
        """``messages``, ``tools`` and ``thinking`` of ``kw`` made right for ``model`` (rule 6 of
        router/backends/fields.py), in place."""
        supported = self._supported.get(model)
        if "thinking" in kw and supported is not None and "thinking" not in supported:
            level = fields.effort(kw.pop("thinking"))
            if level is not None and "reasoning_effort" not in kw:
                kw["reasoning_effort"] = level
        provider = self._claude.get(model)
        if provider is None:
            if fields.extensions(kw).strip:
                kw.update(fields.without_extensions(kw))
        elif provider == "anthropic":
            kw["messages"] = [_documents_as_they_are(m) for m in kw["messages"]]

    async def complete(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any],
                       request_id: str) -> Reply:
        kw = await self._kwargs(replica, endpoint, body)
        try:
            if endpoint is Endpoint.CHAT:
                resp = await self._litellm.acompletion(**kw)
            else:
                resp = await self._litellm.atext_completion(**kw)
        except Exception as e:  # noqa: BLE001 - litellm raises many types; each is mapped, none swallowed
            raise _map_error(e, replica) from None
        return Reply(openai_shape(resp.model_dump()))

    async def stream(self, replica: Replica, endpoint: Endpoint, body: dict[str, Any],
                     request_id: str) -> _LiteLLMStream:
        kw = await self._kwargs(replica, endpoint, body)
        kw["stream_options"] = {"include_usage": True}
        try:
            if endpoint is Endpoint.CHAT:
                resp = await self._litellm.acompletion(stream=True, **kw)
            else:
                resp = await self._litellm.atext_completion(stream=True, **kw)
        except Exception as e:  # noqa: BLE001 - mapped, not swallowed
            raise _map_error(e, replica) from None
        return _LiteLLMStream(resp, replica, endpoint)


# OpenAI's response schema, field by field (``reasoning_content``: the de facto field for a reasoning
# model's thinking, which SGLang's own answers carry too). Anything else litellm adds is dropped.
_TOP = frozenset({"id", "object", "created", "model", "choices", "usage", "system_fingerprint", "service_tier"})
_CHOICE = frozenset({"index", "message", "delta", "finish_reason", "logprobs", "text"})
_MESSAGE = frozenset({"role", "content", "refusal", "tool_calls", "function_call", "annotations", "audio",
                      "reasoning_content", "thinking_blocks"})  # the last: Claude's, when asked (rule 6)
_TOOL_CALL = frozenset({"index", "id", "type", "function"})
_FUNCTION = frozenset({"name", "arguments"})
_USAGE = frozenset({"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
                    "completion_tokens_details"})
_USAGE_DETAILS = {"prompt_tokens_details": frozenset({"audio_tokens", "cached_tokens"}),
                  "completion_tokens_details": frozenset({"accepted_prediction_tokens", "audio_tokens",
                                                          "reasoning_tokens", "rejected_prediction_tokens"})}


def openai_shape(data: dict[str, Any]) -> dict[str, Any]:
    """A litellm answer or chunk (as a dict) with only the fields of OpenAI's schema."""
    out = {k: v for k, v in data.items() if k in _TOP}
    if isinstance(out.get("choices"), list):
        out["choices"] = [_choice(c) if isinstance(c, dict) else c for c in out["choices"]]
    if isinstance(out.get("usage"), dict):
        out["usage"] = _usage(out["usage"])
    return out


def _choice(c: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in c.items() if k in _CHOICE}
    for part in ("message", "delta"):
        m = out.get(part)
        if isinstance(m, dict):
            m = {k: v for k, v in m.items() if k in _MESSAGE and (v is not None or k != "thinking_blocks")}
            if isinstance(m.get("tool_calls"), list):
                m["tool_calls"] = [_tool_call(t) if isinstance(t, dict) else t for t in m["tool_calls"]]
            out[part] = m
    return out


def _tool_call(t: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in t.items() if k in _TOOL_CALL}
    if isinstance(out.get("function"), dict):
        out["function"] = {k: v for k, v in out["function"].items() if k in _FUNCTION}
    return out


def _usage(u: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in u.items() if k in _USAGE}
    for name, keep in _USAGE_DETAILS.items():
        d = out.get(name)
        if isinstance(d, dict):
            out[name] = {k: v for k, v in d.items() if k in keep and v is not None}
    return out


class _LiteLLMStream:
    def __init__(self, resp: Any, replica: Replica, endpoint: Endpoint) -> None:
        self._resp = resp
        self._replica = replica
        self._object = "chat.completion.chunk" if endpoint is Endpoint.CHAT else "text_completion"

    async def batches(self) -> AsyncIterator[list[bytes]]:
        """One event per litellm chunk (litellm hands them over one at a time)."""
        usage: dict[str, Any] | None = None
        last: dict[str, Any] = {}
        try:
            async for chunk in self._resp:
                data = openai_shape(chunk.model_dump(exclude_none=True))
                if data.get("usage"):
                    usage = data.pop("usage")
                    if not any(_has_content(c) for c in data.get("choices") or []):
                        continue
                data.pop("usage", None)
                last = data
                yield [orjson.dumps(data)]
        except Exception as e:  # noqa: BLE001 - mapped, not swallowed
            raise _map_error(e, self._replica) from None
        if usage is not None:
            yield [orjson.dumps({"id": last.get("id", ""), "object": self._object,
                                 "created": last.get("created", int(time.time())),
                                 "model": last.get("model", self._replica.model), "choices": [], "usage": usage})]

    async def aclose(self) -> None:
        closer = getattr(self._resp, "aclose", None)
        if closer is not None:
            await closer()


def _has_content(choice: dict[str, Any]) -> bool:
    delta = choice.get("delta") or {}
    return bool(choice.get("finish_reason") or choice.get("text") or delta.get("content")
                or delta.get("tool_calls") or delta.get("role") or delta.get("reasoning_content")
                or delta.get("thinking_blocks"))


def _documents_as_they_are(m: Any) -> Any:
    """A message whose ``file`` parts came from Anthropic documents carries those blocks instead
    (litellm passes ``document`` parts to Anthropic unchanged: title, context, citations kept)."""
    content = m.get("content") if isinstance(m, dict) else None
    if not isinstance(content, list) or not any(isinstance(p, dict) and fields.DOCUMENT_KEY in p for p in content):
        return m
    return {**m, "content": [p[fields.DOCUMENT_KEY] if isinstance(p, dict) and fields.DOCUMENT_KEY in p else p
                             for p in content]}


_CLAUDE_PROVIDERS = frozenset({"anthropic", "bedrock", "vertex_ai", "vertex_ai_beta"})


def _model_facts(litellm: Any, model: str) -> tuple[frozenset[str] | None, str | None]:
    """What litellm sends on for ``model`` (:func:`_supported_params`) and, for a Claude model, its provider."""
    try:
        name, provider, _, _ = litellm.get_llm_provider(model=model)
    except Exception:  # noqa: BLE001 - a model litellm cannot place: not Claude as far as anyone knows
        return None, None
    claude = provider == "anthropic" or (provider in _CLAUDE_PROVIDERS and "claude" in name.lower())
    return _supported_params(litellm, model), provider if claude else None


def _supported_params(litellm: Any, model: str) -> frozenset[str] | None:
    """The OpenAI parameters litellm sends on for ``model`` (a litellm model string); None when it
    does not know the model (then nothing is dropped ahead and litellm's own check is mapped)."""
    try:
        name, provider, _, _ = litellm.get_llm_provider(model=model)
        params = litellm.get_supported_openai_params(model=name, custom_llm_provider=provider)
    except Exception:  # noqa: BLE001 - a model litellm cannot place: nothing known
        return None
    return frozenset(params) if params else None


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    return litellm


def _map_error(e: Exception, replica: Replica) -> TierrouteError:
    """litellm's exception → the same mapping as SGLang's answers (:func:`.base.upstream_error`)."""
    if isinstance(e, TierrouteError):
        return e
    name = type(e).__name__
    status = getattr(e, "status_code", None)
    message = str(getattr(e, "message", None) or e)[:1000]
    if name in ("Timeout", "APITimeoutError") or isinstance(e, asyncio.TimeoutError):
        return timed_out(replica, f"{describe(replica)} timed out: {message}")
    if name == "APIConnectionError":
        return unreachable(replica, message)
    if name == "UnsupportedParamsError":  # never litellm's advice about its own settings
        named = re.search(r"does not support parameters: \[([^\]]*)\]", message)
        params = ", ".join(re.findall(r"'([^']+)'", named.group(1))) if named else ""
        return BadRequest(f"Tier {replica.tier!r} does not support the parameter(s) {params or 'sent'}; "
                          "remove them or pin another tier.", param=params.split(", ")[0] or None,
                          code="unsupported_parameter", detail=message)
    if name == "ContextWindowExceededError":
        status, data = 400, {"error": {"message": message, "code": "context_length_exceeded"}}
    else:
        data = {"error": {"message": message}}
    if not isinstance(status, int):
        status = 502
    return upstream_error(status, data, replica, retry_after=_retry_after(e), via=f" ({name})")


def _retry_after(e: Exception) -> str | None:
    response = getattr(e, "response", None)
    for headers in (getattr(e, "litellm_response_headers", None), getattr(response, "headers", None)):
        value = headers.get("retry-after") if isinstance(headers, Mapping) else None
        if isinstance(value, str) and value:
            return value
    return None
