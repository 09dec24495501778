"""Issue 11, point 1: what a litellm model takes, from litellm's own table, and the backend itself
leaving out what it does not take (a caller that skips the pipeline, a shadow request, is covered)."""

from __future__ import annotations

import httpx
import pytest

from router.backends.litellm import LiteLLMBackend, _map_error
from router.domain import Endpoint, Replica
from router.errors import BadRequest
from router.policy.model import Price
from tests.integration.conftest import PROVIDER_KEY, Cluster

PRICE = Price(input_per_mtok=1, output_per_mtok=1)


def _replica(model: str, api_base: str = "http://127.0.0.1:9") -> Replica:
    return Replica(key=model, id="frontier/0", tier="frontier", kind="litellm", model=model, price=PRICE,
                   api_base=api_base, api_key_env="PROVIDER_KEY")


BODY = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "seed": 1, "logit_bias": {"1": 1},
        "temperature": 0.2, "user": "u", "n": 1, "top_k": 3, "echo": True}


async def test_supported_set_per_model() -> None:
    b = LiteLLMBackend(connect_timeout_s=1, read_timeout_s=1, env={})
    assert await b.unsupported(_replica("anthropic/claude-sonnet-4-20250514"), Endpoint.CHAT, BODY) == \
        ("seed", "logit_bias", "n")
    assert await b.unsupported(_replica("openai/gpt-4o"), Endpoint.CHAT, BODY) == ()
    assert (await b.unsupported(_replica("ollama/llama2"), Endpoint.CHAT, {**BODY, "tools": []}))[-1] == "tools"
    # a model string litellm cannot place: nothing is known ahead, nothing dropped
    assert await b.unsupported(_replica("no-such-provider/x"), Endpoint.CHAT, BODY) == ()
    assert set(b._supported) == {"anthropic/claude-sonnet-4-20250514", "openai/gpt-4o", "ollama/llama2",
                                 "no-such-provider/x"}  # once per model


async def test_backend_leaves_out_what_the_model_does_not_take(cluster: Cluster) -> None:
    b = LiteLLMBackend(connect_timeout_s=5, read_timeout_s=30, env={"PROVIDER_KEY": PROVIDER_KEY})
    httpx.post(cluster.provider + "/fake/reset", timeout=5)
    reply = await b.complete(_replica("anthropic/claude-sonnet-4-20250514", cluster.provider), Endpoint.CHAT,
                             BODY, "rid-1")
    assert reply.data["choices"][0]["message"]["content"]
    last = httpx.get(cluster.provider + "/fake/stats", timeout=5).json()["last_body"]
    assert last["temperature"] == 0.2 and not {"seed", "logit_bias", "n", "top_k"} & set(last)


class UnsupportedParamsError(Exception):  # litellm's, by name (as _map_error reads it)
    status_code = 400


@pytest.mark.parametrize("text, param", [
    ("litellm.UnsupportedParamsError: anthropic does not support parameters: ['logit_bias', 'seed'], for "
     "model=claude. To drop these, set `litellm.drop_params=True` or for proxy:", "logit_bias"),
    ("litellm.UnsupportedParamsError: something else. set `litellm.drop_params=True`", None),
])
def test_litellms_unsupported_params_error_is_ours(text: str, param: str | None) -> None:
    e = _map_error(UnsupportedParamsError(text), _replica("x/y"))
    assert isinstance(e, BadRequest) and e.status == 400 and e.param == param and e.code == "unsupported_parameter"
    assert "drop_params" not in e.message and "litellm" not in e.message and "'frontier'" in e.message
    assert not e.fault and e.detail == text  # litellm's words to the log only
