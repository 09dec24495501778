"""LangChain's ChatOpenAI: invoke, stream with usage, a tools round trip, structured output three ways."""

from __future__ import annotations

from harness import expect, main
from langchain_checks import shared_checks, structured
from langchain_openai import ChatOpenAI


def llm(base: str, key: str, model: str) -> ChatOpenAI:
    return ChatOpenAI(base_url=base + "/v1", api_key=key, model=model, max_retries=0, timeout=30)


def structured_json_mode(base: str, key: str, model: str) -> dict:
    """JSON mode sends no schema upstream: the prompt asks for JSON, and the answer must parse."""
    schema = {"title": "Answer", "type": "object", "properties": {}}
    out = llm(base, key, model).with_structured_output(schema, method="json_mode").invoke(
        "Answer in JSON: who is Ada Lovelace?")
    expect(isinstance(out, dict), f"{out!r}")
    return out


if __name__ == "__main__":
    main({**shared_checks(llm, stream_usage=True), "structured_function_calling": structured(llm, "function_calling"),
          "structured_json_schema": structured(llm, "json_schema"), "structured_json_mode": structured_json_mode})
