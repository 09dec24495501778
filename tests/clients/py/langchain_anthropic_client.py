"""LangChain's ChatAnthropic (Anthropic's Messages API): invoke, stream with usage, tools, structured output."""

from __future__ import annotations

from harness import expect, main
from langchain_anthropic import ChatAnthropic
from langchain_checks import shared_checks, structured


def llm(base: str, key: str, model: str) -> ChatAnthropic:
    return ChatAnthropic(base_url=base, api_key=key, model=model, max_retries=0, timeout=30, max_tokens=1024)


def structured_dict_schema(base: str, key: str, model: str) -> dict:
    schema = {"title": "person", "description": "A person.", "type": "object",
              "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]}
    out = llm(base, key, model).with_structured_output(schema).invoke("Ada is 36. Extract the person.")
    expect(isinstance(out, dict) and isinstance(out.get("name"), str) and isinstance(out.get("age"), int), f"{out}")
    return out


if __name__ == "__main__":
    # json_schema: Claude's native structured outputs (output_config.format), as LangChain sends them
    main({**shared_checks(llm), "structured_function_calling": structured(llm, "function_calling"),
          "structured_json_schema": structured(llm, "json_schema"), "structured_dict_schema": structured_dict_schema})
