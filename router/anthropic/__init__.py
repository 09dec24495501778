"""Anthropic Messages API <-> OpenAI chat.completions translation. Pure data: no I/O.

Modules: ``request`` (to_openai_request), ``content`` (images, documents, thinking blocks,
``cache_control``), ``response`` (from_openai_response and the finish-reason / usage tables),
``stream`` (StreamTranslator), ``count`` (count_tokens), ``_common`` (errors, SSE framing),
``_check`` (field validators).
Malformed requests raise ``AnthropicRequestError(message, param)`` with ``param`` a field path
such as ``messages[2].content[0].type``.

Request (``to_openai_request``)
    model                          -> model (unchanged; the proxy resolves it)
    system: str | [text blocks]    -> leading system message (blocks joined with blank lines; kept as
                                      text parts when one has cache_control)
    max_tokens (required, int>=1)  -> max_tokens (not required for count_tokens)
    stop_sequences                 -> stop (passed whole; OpenAI proper caps it at 4)
    temperature, top_p             -> same;  top_k, service_tier, other keys -> dropped
    thinking {enabled, budget_tokens} | {disabled} -> thinking (litellm's parameter; per replica:
                                      router/backends/fields.py rule 6)
    stream                         -> stream, plus stream_options.include_usage = true
    metadata.user_id               -> user
    tools[{name, description, input_schema}] -> tools[{type: function, function: {.., parameters}}]
    tool_choice auto|any|tool|none -> "auto" | "required" | {type: function, function: {name}} | "none"
    tool_choice.disable_parallel_tool_use -> parallel_tool_calls: false
    output_config.format {json_schema} -> response_format {type: json_schema, json_schema: {name:
                                      "output", schema}};  output_config.effort -> dropped
    tools[].cache_control          -> cache_control on the function tool (litellm's spelling)
    server tools (type not custom) -> passed as they are (Claude tiers only: fields.py rule 6)
    (tool_choice / parallel_tool_calls are only sent when tools are)

  Content blocks, per message (``content`` has documents, thinking blocks, cache_control):
    text                           -> text part; a lone text block becomes plain string content
    image {base64 | url}           -> image_url part (base64 becomes a data: URL)
    document text / content        -> text (and image) parts
    document base64 / url          -> file part holding the block (Claude tiers only)
    cache_control on any block     -> cache_control on the part it became
    tool_use (assistant)           -> tool_calls[{id, function: {name, arguments: JSON}}];
                                      the turn's text blocks are concatenated into ``content``
    tool_result (user)             -> {"role": "tool", tool_call_id, content}; text blocks joined
                                      with newlines, ``is_error`` prefixes "Error: ", images move
                                      to the user message that follows. All of a turn's tool
                                      messages come first, then one user message with the rest.
    thinking, redacted_thinking    -> the assistant message's thinking_blocks (signature kept); dropped
                                      from user turns

Response (``from_openai_response``; the stream uses the same tables)
    id "chatcmpl-X"                -> "msg_X"
    message.thinking_blocks        -> thinking / redacted_thinking blocks first (signature kept);
                                      a bare reasoning_content only when the request enabled thinking
    message.content / refusal      -> one text block
    tool_calls                     -> tool_use blocks (id kept, so tool_result ids round-trip;
                                      a missing id becomes "toolu_<message id>_<n>");
                                      arguments that are not a JSON object -> {RAW_ARGUMENTS_KEY: raw}
    finish_reason stop             -> end_turn; stop_sequence (+ stop_sequence) when the backend
                                      names the matched string (SGLang ``matched_stop``, vLLM
                                      ``stop_reason``); tool_use when tool calls were returned
    length -> max_tokens, tool_calls/function_call -> tool_use, anything else -> end_turn;
    content_filter (or an OpenAI ``refusal``) -> refusal: Anthropic's own stop reason for a
    safety intervention (LiteLLM uses end_turn, which hides that the output was cut).
    usage: input_tokens = prompt_tokens - cached_tokens, output_tokens = completion_tokens,
           cache_read_input_tokens = prompt_tokens_details.cached_tokens (when present);
           Anthropic counts cache reads outside input_tokens.

Stream (``StreamTranslator(model, *, stop_sequences=None, input_tokens=0)``): message_start
(usage.input_tokens = ``input_tokens``, or the first chunk's usage if it carries one; OpenAI
reports usage only at the end), ping, then per block content_block_start / content_block_delta
(text_delta | input_json_delta | thinking_delta | signature_delta) / content_block_stop, one block
open at a time; finish() sends
message_delta {stop_reason, stop_sequence, usage: input/output/cache_read tokens from the
include_usage chunk, or just output_tokens: 0 if none came} and message_stop. Tool arguments
are streamed verbatim, as the backend emits them (the SDK parses partial JSON; JSON the backend
botched stays botched, unlike the non-streaming RAW_ARGUMENTS_KEY wrap); a fragment arriving
for an already closed tool block is still sent, with that block's index.

Errors (``error_body``; ``error_event`` is the same as a mid-stream SSE ``error`` event):
400 invalid_request_error, 401 authentication_error, 403 permission_error, 404
not_found_error, 413 request_too_large, 429 rate_limit_error, 503 (no healthy replica) and
529 overloaded_error, other 4xx invalid_request_error, anything else api_error.
"""

from ._common import RAW_ARGUMENTS_KEY, AnthropicRequestError, error_body, error_event, error_type
from .request import to_openai_request
from .response import from_openai_response
from .stream import StreamTranslator

__all__ = [
    "RAW_ARGUMENTS_KEY", "AnthropicRequestError", "StreamTranslator", "error_body", "error_event",
    "error_type", "from_openai_response", "to_openai_request",
]
