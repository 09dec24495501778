"""LlamaIndex's OpenAILike (any OpenAI-compatible server): chat, stream, complete, a tool call."""

from __future__ import annotations

from harness import expect, main
from llama_index.core.llms import ChatMessage
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai_like import OpenAILike


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def llm(base: str, key: str, model: str) -> OpenAILike:
    return OpenAILike(model=model, api_base=base + "/v1", api_key=key, is_chat_model=True,
                      is_function_calling_model=True, context_window=4096, max_retries=0, timeout=30)


def chat(base: str, key: str, model: str) -> str:
    out = llm(base, key, model).chat([ChatMessage(role="user", content="Say hello.")])
    expect(bool(out.message.content), "empty answer")
    expect(out.raw is not None and out.raw.usage.completion_tokens > 0, "no usage")
    return out.message.content[:60]


def stream_chat(base: str, key: str, model: str) -> str:
    text = "".join(c.delta or "" for c in llm(base, key, model).stream_chat(
        [ChatMessage(role="user", content="Count to five.")]))
    expect(text != "", "empty stream")
    return text[:60]


def complete(base: str, key: str, model: str) -> str:
    out = llm(base, key, model).complete("Finish this: the sky is")
    expect(out.text != "", "empty completion")
    return out.text[:60]


def tool_call(base: str, key: str, model: str) -> dict:
    tool = FunctionTool.from_defaults(fn=get_weather)
    resp = llm(base, key, model).chat_with_tools([tool], user_msg="What is the weather in Paris?",
                                                  tool_required=True)
    calls = llm(base, key, model).get_tool_calls_from_response(resp, error_on_no_tool_call=True)
    expect(len(calls) == 1 and calls[0].tool_name == "get_weather", f"{calls}")
    return calls[0].tool_kwargs


if __name__ == "__main__":
    main({"chat": chat, "stream_chat": stream_chat, "complete": complete, "tool_call": tool_call})
