"""`usage.cost` (USD) in answers, as OpenRouter reports it: non-streaming bodies and the trailing usage
chunk of streams, equal to the x-tierroute-cost-usd header and to what /admin/stats records."""

from __future__ import annotations

import openai
import pytest

from tests.integration.conftest import CLIENT_KEY


@pytest.mark.parametrize("model", ["small", "frontier"])
def test_usage_cost_in_body_and_stream(make_proxy, model: str) -> None:
    with make_proxy() as proxy:
        c = openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0)
        msgs = [{"role": "user", "content": "tell me something"}]
        raw = c.chat.completions.with_raw_response.create(model=model, messages=msgs, max_tokens=8)
        r = raw.parse()
        cost = r.usage.model_extra["cost"]
        assert cost > 0 and abs(cost - float(raw.headers["x-tierroute-cost-usd"])) < 1e-9
        streamed = None
        for chunk in c.chat.completions.create(model=model, messages=msgs, max_tokens=8, stream=True,
                                               stream_options={"include_usage": True}):
            if chunk.usage is not None:
                streamed = chunk.usage.model_extra["cost"]
        assert streamed is not None and streamed > 0
        total = proxy.admin("/admin/stats")["totals"]["cost_usd"]
        assert abs(total - (cost + streamed)) < 1e-6
