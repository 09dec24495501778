"""Tools and structured output through the proxy, on every tier of the simulated stack (openai SDK)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest
from pydantic import BaseModel

from .conftest import CLIENT_KEY, Proxy

PARAMS = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
          "required": ["city", "days"]}
TOOLS: Any = [{"type": "function", "function": {"name": "forecast", "description": "Weather forecast for a city",
                                                "parameters": PARAMS}}]
ASK: Any = [{"role": "user", "content": "What's the forecast for Rome?"}]
TIERS = ["small", "large", "frontier"]


class Trip(BaseModel):
    city: str
    nights: int
    budget_eur: float | None


def _client(proxy: Proxy, tier: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0,
                         default_headers={"x-tierroute-tier": tier})


@pytest.mark.parametrize("tier", TIERS)
def test_tool_round_trip_on_every_tier(proxy: Proxy, tier: str) -> None:
    client = _client(proxy, tier)
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=ASK, tools=TOOLS)
    assert raw.headers["x-tierroute-tier"] == tier
    r = raw.parse()
    msg: Any = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls" and msg.tool_calls[0].function.name == "forecast"
    jsonschema.validate(json.loads(msg.tool_calls[0].function.arguments), PARAMS)
    args, finish = "", None
    for ch in client.chat.completions.create(model="auto", messages=ASK, tools=TOOLS, stream=True):
        if ch.choices:
            for tc in ch.choices[0].delta.tool_calls or ():
                args += tc.function.arguments or "" if tc.function else ""
            finish = ch.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    jsonschema.validate(json.loads(args), PARAMS)
    history = [*ASK, msg.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": msg.tool_calls[0].id, "content": "Sunny all week"}]
    done = client.chat.completions.create(model="auto", messages=history, tools=TOOLS)
    assert done.choices[0].finish_reason == "stop" and "Sunny all week" in (done.choices[0].message.content or "")


@pytest.mark.parametrize("tier", TIERS)
def test_structured_output_on_every_tier(proxy: Proxy, tier: str) -> None:
    client = _client(proxy, tier)
    parsed = client.chat.completions.parse(model="auto", messages=[{"role": "user", "content": "Plan a trip"}],
                                           response_format=Trip)
    assert isinstance(parsed.choices[0].message.parsed, Trip)
    text = ""
    for ch in client.chat.completions.create(model="auto", stream=True,
                                             messages=[{"role": "user", "content": "Plan a trip, as JSON"}],
                                             response_format={"type": "json_object"}):
        if ch.choices:
            text += ch.choices[0].delta.content or ""
    assert isinstance(json.loads(text), dict)
