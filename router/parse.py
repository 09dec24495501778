"""Parse and check a client's request body; everything not checked here passes through untouched.

Only what routing needs is looked at: ``model``, ``messages`` / ``prompt``, ``stream``,
``stream_options`` and the output budget. The other fields (tools, response_format, seed, …)
stay in ``body``; which of them may reach a backend is decided in one place,
:mod:`router.backends.fields` (unknown ones are refused here). Shape errors name the field
(``param``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from classifiers.text import DEFAULT_CHAT_TEXT_MODE, ChatTextMode, text_for_chat, text_for_prompt

from .backends import fields
from .domain import BackendKind, Endpoint
from .errors import BadRequest, InvalidJSON, Unprocessable

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
CHARS_PER_TOKEN = 4  # a deliberately rough estimate, used only for context-limit checks
TOKENS_PER_MESSAGE = 4


@dataclass(slots=True)
class ParsedRequest:
    endpoint: Endpoint
    body: dict[str, Any]
    model: str
    stream: bool
    include_usage: bool
    max_tokens: int | None
    _prompt_tokens: int | None = None  # the estimate, computed once: routing, steering, rules and clamping read it
    _extensions: fields.Extensions | None = None  # rule 6's, computed once: building the body and checking it

    def needed_tokens(self, output_room: int | None = None) -> int:
        """Estimated prompt tokens plus the requested output budget, counted up to ``output_room``
        (``routing.min_output_tokens``: a larger budget is clamped later, not a reason to escalate)."""
        out = self.max_tokens or 0
        return self.prompt_tokens_estimate() + (out if output_room is None else min(out, output_room))

    def prompt_tokens_estimate(self) -> int:
        if self._prompt_tokens is None:
            self._prompt_tokens = self._estimate()
        return self._prompt_tokens

    def _estimate(self) -> int:
        if self.endpoint is Endpoint.CHAT:
            chars = sum(_content_chars(m.get("content")) for m in self.body["messages"])
            tools = self.body.get("tools")
            if tools:
                chars += len(orjson.dumps(tools))
            return chars // CHARS_PER_TOKEN + TOKENS_PER_MESSAGE * len(self.body["messages"])
        prompt = self.body["prompt"]
        chars = len(prompt) if isinstance(prompt, str) else sum(len(p) if isinstance(p, str) else 1 for p in prompt)
        return chars // CHARS_PER_TOKEN

    def text_for_score(self, chat_mode: ChatTextMode = DEFAULT_CHAT_TEXT_MODE) -> str:
        """The text the classifier scores; ``chat_mode`` is the one the model was trained with."""
        if self.endpoint is Endpoint.CHAT:
            return text_for_chat(self.body["messages"], chat_mode)
        return text_for_prompt(self.body["prompt"])

    def for_upstream(self, kind: BackendKind, model: str) -> dict[str, Any]:
        """The body to send to a replica of ``kind`` (:func:`router.backends.fields.build`)."""
        return fields.build(kind, self.endpoint, self.body, model, self.stream, self.extensions())

    def extensions(self) -> fields.Extensions:
        """:func:`router.backends.fields.extensions` of the body, computed once."""
        if self._extensions is None:
            self._extensions = fields.extensions(self.body)
        return self._extensions


def decode_json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise InvalidJSON("The request body is empty; send a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidJSON(f"The request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    return body


def parse_request(endpoint: Endpoint, body: dict[str, Any]) -> ParsedRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise Unprocessable("`model` is required: 'auto', a tier name or a model from /v1/models.",
                            param="model", code="missing_required_parameter" if model is None else None)
    fields.check(endpoint, body)
    if endpoint is Endpoint.CHAT:
        _check_messages(body.get("messages"))
    else:
        _check_prompt(body.get("prompt"))
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise Unprocessable("`stream` must be true or false.", param="stream")
    opts = body.get("stream_options")
    if opts is not None and not isinstance(opts, dict):
        raise Unprocessable("`stream_options` must be an object.", param="stream_options")
    include_usage = bool(stream and opts and opts.get("include_usage"))
    max_tokens = None
    for name in ("max_completion_tokens", "max_tokens"):
        v = body.get(name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise Unprocessable(f"`{name}` must be a positive integer.", param=name)
        max_tokens = v
        break
    return ParsedRequest(endpoint, body, model, stream, include_usage, max_tokens)


def _check_messages(messages: Any) -> None:
    if messages is None:
        raise Unprocessable("`messages` is required.", param="messages", code="missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise Unprocessable("`messages` must be a non-empty array.", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise Unprocessable(f"messages[{i}] must be an object.", param=f"messages[{i}]")
        role = m.get("role")
        if role not in ROLES:
            raise Unprocessable(f"messages[{i}].role must be one of {sorted(ROLES)}, got {role!r}.",
                                param=f"messages[{i}].role")
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise Unprocessable(f"messages[{i}].content must be a string or an array of parts.",
                                param=f"messages[{i}].content")
        if content is None and not (role == "assistant" and (m.get("tool_calls") or m.get("function_call"))):
            # OpenAI's contract; litellm's translations index these fields and fail as if the provider had
            raise Unprocessable(f"messages[{i}].content is required"
                                + (" (or tool_calls)." if role == "assistant" else "."),
                                param=f"messages[{i}].content", code="missing_required_parameter")
        if role == "tool" and not isinstance(m.get("tool_call_id"), str):
            raise Unprocessable(f"messages[{i}].tool_call_id is required for a tool message.",
                                param=f"messages[{i}].tool_call_id", code="missing_required_parameter")
        if isinstance(content, list):
            for j, part in enumerate(content):
                _check_part(part, f"messages[{i}].content[{j}]")


# the field each kind of content part must carry (OpenAI's content part types)
PART_FIELDS = {"text": "text", "image_url": "image_url", "input_audio": "input_audio", "file": "file",
               "refusal": "refusal"}


def _check_part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise Unprocessable(f"{where} must be an object.", param=where)
    kind = part.get("type")
    if kind not in PART_FIELDS:
        raise Unprocessable(f"{where}.type must be one of {sorted(PART_FIELDS)}, got {kind!r}.", param=f"{where}.type")
    if part.get(PART_FIELDS[kind]) is None:
        raise Unprocessable(f"{where}.{PART_FIELDS[kind]} is required for a {kind} part.",
                            param=f"{where}.{PART_FIELDS[kind]}", code="missing_required_parameter")


def _check_prompt(prompt: Any) -> None:
    if prompt is None:
        raise Unprocessable("`prompt` is required.", param="prompt", code="missing_required_parameter")
    if isinstance(prompt, str):
        return
    if isinstance(prompt, list) and prompt and all(isinstance(p, (str, int)) for p in prompt):
        return
    raise Unprocessable("`prompt` must be a string or a non-empty array of strings or token ids.", param="prompt")


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
    return 0
