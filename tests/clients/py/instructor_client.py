"""instructor: pydantic models out of the OpenAI SDK, in its tool-calling and JSON-schema modes."""

from __future__ import annotations

import instructor
from harness import expect, main
from openai import OpenAI
from pydantic import BaseModel, Field


class Person(BaseModel):
    name: str = Field(description="their name")
    age: int = Field(ge=0, le=150, description="their age in years")
    hobbies: list[str] = Field(default_factory=list)


def extract(mode: instructor.Mode, stream: bool = False):
    def check(base: str, key: str, model: str) -> dict:
        client = instructor.from_openai(OpenAI(base_url=base + "/v1", api_key=key, max_retries=0), mode=mode)
        messages = [{"role": "user", "content": "Ada is 36 and likes chess. Extract the person as JSON."}]
        if stream:
            parts = list(client.chat.completions.create_partial(model=model, response_model=Person,
                                                                messages=messages, max_retries=0))
            expect(len(parts) >= 1, "no partials")
            out = parts[-1]
        else:
            out, raw = client.chat.completions.create_with_completion(model=model, response_model=Person,
                                                                      messages=messages, max_retries=0)
            expect(raw.usage is not None and raw.usage.total_tokens > 0, "no usage")
        expect(isinstance(out, Person) and isinstance(out.age, int), f"{out!r}")
        return out.model_dump()
    return check


if __name__ == "__main__":
    main({"tools": extract(instructor.Mode.TOOLS), "json_schema": extract(instructor.Mode.JSON_SCHEMA),
          "json": extract(instructor.Mode.JSON), "tools_partial_stream": extract(instructor.Mode.TOOLS, stream=True)})
