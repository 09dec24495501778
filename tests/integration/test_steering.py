"""Per-request steering through a proxy: body fields and headers, never forwarded upstream."""

from __future__ import annotations

import openai

from tests.integration.conftest import CLIENT_KEY


def client(proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0)


def test_max_tier_min_tier_and_max_cost(make_proxy) -> None:
    with make_proxy() as proxy:
        _bounds(proxy)


def test_out_of_bounds_is_a_400_naming_why(make_proxy) -> None:
    with make_proxy() as proxy:
        _refusals(proxy)


def _bounds(proxy) -> None:
    hard = [{"role": "user", "content": "a hard one"}]
    r = client(proxy).chat.completions.with_raw_response.create(model="auto", messages=hard,
                                                                extra_body={"max_tier": "large"})
    assert (r.headers["x-tierroute-tier"], r.headers["x-tierroute-reason"]) == ("large", "steered")
    r = client(proxy).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "easy"}], extra_headers={"x-tierroute-min-tier": "large"})
    assert r.headers["x-tierroute-tier"] == "large"
    # the frontier tier (gpt-4o's price) costs more than a tenth of a cent for 1,000 output tokens
    r = client(proxy).chat.completions.with_raw_response.create(model="auto", messages=hard, max_tokens=1000,
                                                                extra_body={"max_cost_usd": 0.001})
    assert r.headers["x-tierroute-tier"] != "frontier" and r.headers["x-tierroute-reason"] == "steered"
    # litellm would take unknown fields as its own; the steering fields never reach an upstream
    r = client(proxy).chat.completions.with_raw_response.create(model="frontier", messages=hard,
                                                                extra_body={"min_tier": "large"})
    assert "x-tierroute-dropped-params" not in r.headers


def _refusals(proxy) -> None:
    try:
        client(proxy).chat.completions.create(model="frontier", messages=[{"role": "user", "content": "x"}],
                                              extra_body={"max_tier": "large"})
        raise AssertionError("a pin above max_tier was served")
    except openai.BadRequestError as e:
        assert e.code == "outside_steering_bounds" and "frontier: above max_tier 'large'" in e.message
    try:
        client(proxy).chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}],
                                              extra_body={"max_cost_usd": 1e-12})
        raise AssertionError("a request no tier can afford was served")
    except openai.BadRequestError as e:
        assert e.code == "outside_steering_bounds" and e.param == "max_cost_usd"
