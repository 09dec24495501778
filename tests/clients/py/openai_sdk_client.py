"""The official openai SDK's newer calls: responses (create, stream, parse, follow-ups) and embeddings."""

from __future__ import annotations

from harness import expect, main
from openai import OpenAI
from pydantic import BaseModel


class Person(BaseModel):
    name: str
    age: int


def client(base: str, key: str) -> OpenAI:
    return OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)


def responses_create(base: str, key: str, model: str) -> dict:
    r = client(base, key).responses.create(model=model, input="Say hello.", instructions="Be brief.")
    expect(r.status == "completed" and r.output_text != "", f"{r.status} {r.output_text!r}")
    expect(r.usage is not None and r.usage.output_tokens > 0, "no usage")
    follow = client(base, key).responses.create(model=model, input="And again.", previous_response_id=r.id)
    expect(follow.output_text != "" and follow.usage.input_tokens > r.usage.input_tokens, "history not carried")
    return {"id": r.id, "text": r.output_text[:40]}


def responses_stream(base: str, key: str, model: str) -> int:
    kinds = []
    with client(base, key).responses.stream(model=model, input="Count to five.") as stream:
        for event in stream:
            kinds.append(event.type)
        final = stream.get_final_response()
    expect(kinds[0] == "response.created" and kinds[-1] == "response.completed", f"{kinds[:3]} … {kinds[-2:]}")
    expect("response.output_text.delta" in kinds and final.output_text != "", "no text")
    return len(kinds)


def responses_parse(base: str, key: str, model: str) -> dict:
    r = client(base, key).responses.parse(model=model, input="Ada is 36. Extract the person.", text_format=Person)
    expect(isinstance(r.output_parsed, Person), f"{r.output_parsed!r}")
    return r.output_parsed.model_dump()


def responses_tool_call(base: str, key: str, model: str) -> dict:
    tools = [{"type": "function", "name": "get_weather", "description": "The weather in a city.",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    c = client(base, key)
    r = c.responses.create(model=model, input="Weather in Paris?", tools=tools, tool_choice="required")
    calls = [o for o in r.output if o.type == "function_call"]
    expect(len(calls) == 1 and calls[0].name == "get_weather", f"{r.output}")
    done = c.responses.create(model=model, previous_response_id=r.id, tools=tools, input=[
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}])
    expect(done.output_text != "", "no answer after the tool's output")
    return {"arguments": calls[0].arguments, "then": done.output_text[:40]}


def embeddings(base: str, key: str, model: str) -> int:
    c = client(base, key)
    one = c.embeddings.create(model="text-embedding-3-small", input="hello")  # the SDK's default: base64
    many = c.embeddings.create(model="text-embedding-3-small", input=["a", "b"], encoding_format="float")
    expect(len(one.data) == 1 and len(many.data) == 2 and len(one.data[0].embedding) > 0, "bad shapes")
    expect(one.usage.prompt_tokens > 0, "no usage")
    return len(one.data[0].embedding)


if __name__ == "__main__":
    main({"responses_create": responses_create, "responses_stream": responses_stream,
          "responses_parse": responses_parse, "responses_tool_call": responses_tool_call, "embeddings": embeddings})
