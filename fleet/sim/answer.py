"""What the simulator answers a chat request: prose, a tool call, or JSON for a response format.

``openai_intent(body, dialect)`` and ``anthropic_intent(body)`` read a request and decide, the
way a tool-using model served with a constraining grammar behaves:

* With tools and ``tool_choice`` not ``"none"``: ``"required"`` or a named function (OpenAI),
  ``{"type": "any" | "tool"}`` (Anthropic) always call one; ``"auto"`` (or absent) calls one
  unless the last message is a tool result, in which case the answer is prose that quotes the
  result (so a client's agent loop ends). With several tools, the one whose name and
  description share the most words with the last user message is called. The legacy
  ``functions``/``function_call`` pair is read the same way (``dialect="openai"`` only; SGLang
  ignores it).
* ``response_format`` ``json_object`` → a JSON object (valid for the first JSON schema the
  messages show, as instructor's and LangChain's JSON modes put one in the prompt and a capable
  model follows it); ``json_schema`` → JSON valid for its ``schema``
  (:mod:`fleet.sim.schema_instance`). A tool call wins over a response format.

``make_answer`` turns the intent into an :class:`Answer`: the tokens to stream (the call's
arguments, the JSON document, or prose from :mod:`fleet.sim.reply`) and, for a call, its id
and function name. Everything is seeded by the prompt's token ids, so the same request gets
the same answer. A call or document cut short by ``max_tokens`` is returned as plain text with
``finish_reason="length"``, as SGLang's parser gives up on truncated JSON.

Requests a server refuses raise :class:`AnswerError` with the message of the dialect's server
(SGLang's ``_validate_request`` in ``serving_chat.py``, OpenAI's and Anthropic's 400s).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .reply import Reply, fixed_reply, make_reply, prompt_rng
from .schema_instance import SchemaError, instance
from .tokenize import Tokenizer, content_text

Dialect = Literal["sglang", "openai", "anthropic"]
_SALT = 0x5EED
_WORD = re.compile(r"[a-z0-9]+")
_RESULT_CHARS = 200


class AnswerError(ValueError):
    """A request the server refuses: ``message`` in that server's words; ``validation`` marks a
    malformed field (SGLang answers those as FastAPI validation errors)."""

    def __init__(self, message: str, param: str | None = None, *, validation: bool = False) -> None:
        super().__init__(message)
        self.message, self.param, self.validation = message, param, validation


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON object, as a string


@dataclass(frozen=True, slots=True)
class Answer:
    reply: Reply  # the tokens generated: prose, a JSON document or the call's arguments
    tool_call: ToolCall | None = None

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_call is not None else self.reply.finish_reason


@dataclass(frozen=True, slots=True)
class Intent:
    tool: Mapping[str, Any] | None = None  # {"name", "parameters"}: answer with a call to it
    schema: Any = None  # answer with a JSON document valid for it
    tool_result: str | None = None  # the text of the tool result that prose should quote


TEXT = Intent()


def openai_intent(body: Mapping[str, Any], dialect: Literal["sglang", "openai"]) -> Intent:
    """The intent of an OpenAI chat request (raises ``AnswerError`` as the dialect's server would)."""
    messages = body.get("messages") or []
    tools, choice = _openai_tools(body, dialect)
    schema = _response_schema(body.get("response_format"), messages, dialect)
    result = _last_tool_result(messages)
    if tools and choice != "none":
        if isinstance(choice, Mapping):  # a named function
            return Intent(tool=next(t for t in tools if t["name"] == choice["name"]))
        if choice == "required" or result is None:
            return Intent(tool=_best_tool(tools, messages))
    if schema is not None:
        return Intent(schema=schema)
    return Intent(tool_result=result) if result is not None else TEXT


def anthropic_intent(body: Mapping[str, Any]) -> Intent:
    """The intent of an Anthropic Messages request (tools with ``input_schema``, ``tool_choice``)."""
    raw = body.get("tools")
    tools = [{"name": t["name"], "description": t.get("description") or "", "parameters": t["input_schema"]}
             for t in raw or () if isinstance(t, Mapping) and isinstance(t.get("name"), str)
             and isinstance(t.get("input_schema"), Mapping)]
    choice = body.get("tool_choice") or {"type": "auto"}
    kind = choice.get("type") if isinstance(choice, Mapping) else None
    if kind not in ("auto", "any", "tool", "none"):
        raise AnswerError("tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', "
                          "'tool', 'none'")
    messages = body.get("messages") or []
    if kind in ("any", "tool") and not tools:
        raise AnswerError("tool_choice: tool_choice may only be specified while providing tools.")
    if kind == "tool":
        name = choice.get("name") if isinstance(choice, Mapping) else None
        match = [t for t in tools if t["name"] == name]
        if not match:
            raise AnswerError(f"tool_choice.name: Tool '{name}' not found in the provided tools")
        return Intent(tool=match[0])
    result = _anthropic_tool_result(messages)
    if tools and kind != "none" and (kind == "any" or result is None):
        return Intent(tool=_best_tool(tools, messages))
    return Intent(tool_result=result) if result is not None else TEXT


def make_answer(intent: Intent, tok: Tokenizer, prompt_ids: Sequence[int], *, max_tokens: int | None,
                stop: Sequence[str] = (), seed: int = 0, min_len: int = 16, max_len: int = 64,
                id_prefix: str = "call_") -> Answer:
    """The answer for ``intent`` (see the module docstring)."""
    if intent.tool is not None or intent.schema is not None:
        rng = prompt_rng(prompt_ids, seed ^ _SALT)
        schema = intent.tool["parameters"] if intent.tool is not None else intent.schema
        try:
            value = instance(schema, rng)
        except SchemaError as e:
            raise AnswerError(f"Cannot generate JSON for the schema: {e}") from None
        reply = fixed_reply(tok, json.dumps(value, ensure_ascii=False), max_tokens)
        if intent.tool is None or reply.finish_reason == "length":
            return Answer(reply)
        call_id = id_prefix + uuid.uuid4().hex[:24]
        return Answer(reply, ToolCall(call_id, str(intent.tool["name"]), reply.text))
    prose = make_reply(tok, prompt_ids, max_tokens=max_tokens, stop=stop, seed=seed, min_len=min_len,
                       max_len=max_len)
    if intent.tool_result is None:
        return Answer(prose)
    return Answer(fixed_reply(tok, f"The tool returned: {intent.tool_result}. {prose.text}", max_tokens))


# -- reading requests ---------------------------------------------------------------------------

def _openai_tools(body: Mapping[str, Any], dialect: str) -> tuple[list[dict[str, Any]], Any]:
    raw, choice = body.get("tools"), body.get("tool_choice")
    if raw is None and dialect == "openai" and body.get("functions") is not None:
        raw = [{"type": "function", "function": f} for f in body["functions"] or ()] \
            if isinstance(body["functions"], list) else body["functions"]
        legacy = body.get("function_call")
        choice = {"type": "function", "function": legacy} if isinstance(legacy, Mapping) else legacy
    if raw is not None and not isinstance(raw, list):
        raise AnswerError("tools: Input should be a valid list", "tools", validation=True)
    tools: list[dict[str, Any]] = []
    for i, tool in enumerate(raw or ()):
        fn = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise AnswerError(f"tools.{i}.function: Field required (an object with a string 'name')",
                              f"tools[{i}].function", validation=True)
        params = fn.get("parameters")
        tools.append({"name": fn["name"], "description": fn.get("description") or "",
                      "parameters": params if params is not None else {"type": "object", "properties": {}}})
        if params is not None:
            _check_schema(params, i, fn["name"], dialect)
    if choice is None:
        choice = "auto" if tools else "none"
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise AnswerError(f"tool_choice: Input should be 'none', 'auto' or 'required', got {choice!r}",
                              "tool_choice", validation=True)
        if choice == "required" and not tools:
            raise AnswerError("Tools cannot be empty if tool choice is set to required." if dialect == "sglang"
                              else "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                              "are specified.", "tool_choice")
        return tools, choice
    fn = choice.get("function") if isinstance(choice, Mapping) else None
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
        raise AnswerError("tool_choice: Input should be 'none', 'auto', 'required' or "
                          "{\"type\": \"function\", \"function\": {\"name\": ...}}", "tool_choice", validation=True)
    name = fn["name"]
    if not tools:
        raise AnswerError("Tools cannot be empty if tool choice is set to a specific tool." if dialect == "sglang"
                          else "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
                          "specified.", "tool_choice")
    if not any(t["name"] == name for t in tools):
        raise AnswerError(f"Tool '{name}' not found in tools list." if dialect == "sglang"
                          else f"Invalid value for 'tool_choice': no function named '{name}' was specified in "
                          "the 'tools' parameter.", "tool_choice")
    return tools, {"name": name}


def _check_schema(params: Any, i: int, name: str, dialect: str) -> None:
    import jsonschema  # lazy: only requests with tools pay for it

    try:
        jsonschema.Draft202012Validator.check_schema(params)
    except jsonschema.SchemaError as e:
        raise AnswerError(f"Tool {i} function has invalid 'parameters' schema: {e.message}" if dialect == "sglang"
                          else f"Invalid schema for function '{name}': {e.message}",
                          f"tools[{i}].function.parameters") from None


def _response_schema(fmt: Any, messages: Sequence[Any], dialect: str) -> Any:
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        if dialect == "openai" and "json" not in _all_text(messages).lower():
            raise AnswerError("'messages' must contain the word 'json' in some form, to use 'response_format' "
                              "of type 'json_object'.", "messages")
        return _schema_shown(_all_text(messages)) or {"type": "object"}
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, Mapping):
            raise AnswerError("response_format.json_schema: Field required" if dialect == "sglang"
                              else "Missing required parameter: 'response_format.json_schema'.",
                              "response_format.json_schema", validation=dialect == "sglang")
        schema = spec.get("schema", spec.get("schema_"))
        if schema is None:
            raise AnswerError("schema_ is required for json_schema response format request." if dialect == "sglang"
                              else "Missing required parameter: 'response_format.json_schema.schema'.",
                              "response_format.json_schema.schema")
        return schema
    raise AnswerError(f"response_format.type: Input should be 'text', 'json_object' or 'json_schema', got {kind!r}",
                      "response_format.type", validation=True)


def _schema_shown(text: str) -> Mapping[str, Any] | None:
    """The first JSON object in ``text`` that looks like a schema (it has ``properties``)."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            found, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(found, dict) and isinstance(found.get("properties"), dict):
            return found
    return None


def _last_tool_result(messages: Sequence[Any]) -> str | None:
    last = messages[-1] if messages else None
    if isinstance(last, Mapping) and last.get("role") in ("tool", "function"):
        return _snippet(content_text(last.get("content")))
    return None


def _anthropic_tool_result(messages: Sequence[Any]) -> str | None:
    last = messages[-1] if messages else None
    content = last.get("content") if isinstance(last, Mapping) and last.get("role") == "user" else None
    if isinstance(content, list):
        results = [content_text(b.get("content")) for b in content
                   if isinstance(b, Mapping) and b.get("type") == "tool_result"]
        if results:
            return _snippet(" ".join(results))
    return None


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _RESULT_CHARS else flat[:_RESULT_CHARS] + "..."


def _all_text(messages: Sequence[Any]) -> str:
    return " ".join(content_text(m.get("content")) for m in messages if isinstance(m, Mapping))


def _best_tool(tools: Sequence[Mapping[str, Any]], messages: Sequence[Any]) -> Mapping[str, Any]:
    users = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
    words = set(_WORD.findall(content_text(users[-1].get("content")).lower())) if users else set()

    def overlap(tool: Mapping[str, Any]) -> int:
        text = (str(tool["name"]).replace("_", " ") + " " + str(tool.get("description") or "")).lower()
        return len(words & set(_WORD.findall(text)))

    return max(tools, key=overlap)  # ties: the first tool
