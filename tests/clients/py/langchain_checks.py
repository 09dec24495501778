"""The checks both LangChain chat models share (ChatOpenAI, ChatAnthropic), given a factory for one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness import Check, expect
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

Factory = Callable[[str, str, str], BaseChatModel]  # (base_url, key, model)


class Person(BaseModel):
    """A person mentioned in the text."""

    name: str = Field(description="their name")
    age: int = Field(description="their age in years")


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def shared_checks(llm: Factory, **stream_kw: Any) -> dict[str, Check]:
    def invoke(base: str, key: str, model: str) -> str:
        out = llm(base, key, model).invoke("Say hello in one short sentence.")
        expect(out.text != "", f"answer {out.content!r}")
        expect(out.usage_metadata is not None and out.usage_metadata["output_tokens"] > 0, "no usage")
        return out.text[:60]

    def stream_with_usage(base: str, key: str, model: str) -> dict:
        total = None
        for chunk in llm(base, key, model).bind(**stream_kw).stream("Count to five."):
            total = chunk if total is None else total + chunk
        expect(total is not None and total.text != "", "empty stream")
        usage = total.usage_metadata
        expect(usage is not None and usage["input_tokens"] > 0 and usage["output_tokens"] > 0, f"usage {usage}")
        return dict(usage)

    def tools_round_trip(base: str, key: str, model: str) -> str:
        chat = llm(base, key, model).bind_tools([get_weather])
        messages: list[Any] = [HumanMessage("What is the weather in Paris? Use the tool.")]
        first = chat.invoke(messages)
        expect(len(first.tool_calls) == 1 and first.tool_calls[0]["name"] == "get_weather", f"{first.tool_calls}")
        call = first.tool_calls[0]
        expect(isinstance(call["args"].get("city"), str), f"args {call['args']}")
        messages += [first, ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])]
        final = chat.invoke(messages)
        expect(not final.tool_calls and final.text != "", f"final {final.content!r}")
        return final.text[:60]

    def stream_tool_call(base: str, key: str, model: str) -> dict:
        total = None
        for chunk in llm(base, key, model).bind_tools([get_weather], tool_choice="get_weather").stream("Rome?"):
            total = chunk if total is None else total + chunk
        expect(total is not None and len(total.tool_calls) == 1, f"{total and total.tool_calls}")
        return total.tool_calls[0]["args"]

    return {"invoke": invoke, "stream_with_usage": stream_with_usage, "tools_round_trip": tools_round_trip,
            "stream_tool_call": stream_tool_call}


def structured(llm: Factory, method: str) -> Check:
    """``with_structured_output(Person, method=...)`` returns a Person."""
    def check(base: str, key: str, model: str) -> dict:
        out = llm(base, key, model).with_structured_output(Person, method=method).invoke(
            "Ada is 36 years old. Extract the person.")
        expect(isinstance(out, Person), f"{out!r}")
        return out.model_dump()
    return check
