"""OpenAI Responses API <-> chat.completions translation, and the store behind ``previous_response_id``.

Modules: ``request`` (to_chat_request: the request -> a :class:`ChatBody`, the chat body that
carries its :class:`Origin`), ``items`` (input items -> chat messages), ``response`` (a chat
completion -> a ``response`` object), ``stream`` (StreamTranslator: chunks -> typed SSE
events), ``store`` (ResponseStore: bounded, least recently used out). No I/O.

Request
    input: str | [items]            -> messages (see ``items``); a string is one user message;
                                       item_reference {id} -> the stored output item with that id
    instructions                    -> a leading system message (not carried to follow-ups, as OpenAI)
    previous_response_id            -> the stored conversation (input items + output) prepended;
                                       unknown: 400 previous_response_not_found (OpenAI's code)
    max_output_tokens               -> max_tokens
    temperature, top_p, user, safety_identifier, prompt_cache_key, service_tier -> same
    tools [{type: function, name, description, parameters, strict}] -> chat function tools;
                                       any other tool type (web_search, file_search, ...) -> 400
    tool_choice auto|none|required|{type: function, name} -> the chat equivalents
    parallel_tool_calls             -> same (tool_choice and it only when there are tools)
    text.format json_schema {name, schema, strict} -> response_format json_schema; json_object -> same
    text.verbosity                  -> verbosity;  reasoning.effort -> reasoning_effort
    stream                          -> stream + stream_options.include_usage
    store (default true), metadata, truncation, include, max_tool_calls, prompt_cache_retention,
    stream_options, background: false -> kept by the proxy (echoed), not forwarded
    conversation, prompt, top_logprobs, context_management, background: true -> 400 (not served)
    anything else                   -> 400 unknown_parameter naming it

Response: ``resp_<hex>`` id; output = a message item (output_text, or refusal, parts) and one
function_call item per tool call (``call_id`` = the chat tool call's id); finish_reason length /
content_filter -> status incomplete with incomplete_details.reason max_output_tokens /
content_filter; usage prompt/completion tokens -> input/output tokens, cached and reasoning
tokens in their details.
"""

from .request import ChatBody, Origin, to_chat_request
from .response import from_chat
from .store import ResponseStore
from .stream import StreamTranslator

__all__ = ["ChatBody", "Origin", "ResponseStore", "StreamTranslator", "from_chat", "to_chat_request"]
