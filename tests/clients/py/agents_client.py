"""The OpenAI Agents SDK with its default model (the Responses API), a function tool and streaming."""

from __future__ import annotations

import asyncio

from agents import Agent, Runner, function_tool, set_default_openai_client, set_tracing_disabled
from harness import expect, main
from openai import AsyncOpenAI


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def agent(base: str, key: str, model: str, **kw) -> Agent:
    set_tracing_disabled(True)
    set_default_openai_client(AsyncOpenAI(base_url=base + "/v1", api_key=key, max_retries=0), use_for_tracing=False)
    return Agent(name="assistant", instructions="You are helpful.", model=model, **kw)


def run_plain(base: str, key: str, model: str) -> str:
    result = Runner.run_sync(agent(base, key, model), "Say hello.")
    expect(isinstance(result.final_output, str) and result.final_output != "", f"{result.final_output!r}")
    return result.final_output[:60]


def run_with_tool(base: str, key: str, model: str) -> str:
    result = Runner.run_sync(agent(base, key, model, tools=[get_weather]), "What is the weather in Paris?")
    kinds = [item.type for item in result.new_items]
    expect("tool_call_item" in kinds and "tool_call_output_item" in kinds, f"items {kinds}")
    expect(isinstance(result.final_output, str) and result.final_output != "", f"{result.final_output!r}")
    return f"{kinds} -> {result.final_output[:40]}"


def run_streamed(base: str, key: str, model: str) -> int:
    async def go() -> int:
        result = Runner.run_streamed(agent(base, key, model), "Count to five.")
        deltas = 0
        async for event in result.stream_events():
            if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
                deltas += 1
        expect(deltas > 0 and bool(result.final_output), f"{deltas} deltas, {result.final_output!r}")
        return deltas
    return asyncio.run(go())


if __name__ == "__main__":
    main({"run": run_plain, "run_with_tool": run_with_tool, "run_streamed": run_streamed})
