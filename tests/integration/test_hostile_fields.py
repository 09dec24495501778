"""A client cannot steer litellm: control fields never make the proxy contact another host or
hand the provider key to anyone (issue 10, point 1)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from router.backends.litellm import LiteLLMBackend
from router.domain import Endpoint, Replica
from router.policy.model import Price
from tests.backends.test_fields import LITELLM_CONTROL
from tests.integration.conftest import CLIENT_KEY, PROVIDER_KEY, Cluster


class Listener:
    """A TCP listener on loopback that records every connection and what was sent on it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    self.received.append(conn.recv(65536))
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def attacker() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


def hostile(url: str) -> dict[str, Any]:
    """Every control field, each aimed at the attacker where it takes a URL."""
    values: dict[str, Any] = {name: url for name in LITELLM_CONTROL}
    values.update(extra_headers={"X-Steal": "1"}, headers={"X-Steal": "1"}, model_list=[
        {"model_name": "auto", "litellm_params": {"model": "openai/gpt-4o", "api_base": url}}],
        fallbacks=[{"gpt-4o": ["openai/x"]}], mock_response="pwned", metadata={"model_group": "x"},
        custom_llm_provider="openai", num_retries=3, timeout=1)
    return values


def test_each_control_field_is_refused_before_any_upstream(proxy: Any, cluster: Cluster, attacker: Listener) -> None:
    c = openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0, timeout=30)
    before = httpx.get(cluster.provider + "/fake/stats", timeout=5).json()["requests"]
    for name, value in hostile(attacker.url).items():
        if name == "metadata":
            continue  # a public OpenAI field: allowed, but never given to litellm (next test)
        with pytest.raises(openai.BadRequestError) as e:
            c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "a hard question"}],
                                      max_tokens=8, extra_body={name: value})
        assert e.value.body["param"] == name, name  # type: ignore[index]
    assert httpx.get(cluster.provider + "/fake/stats", timeout=5).json()["requests"] == before
    assert attacker.received == []


def test_metadata_and_sglang_extensions_do_not_reach_the_provider(proxy: Any, cluster: Cluster) -> None:
    c = openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0, timeout=30)
    raw = c.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=8, seed=3,
        metadata={"model_group": "x"}, extra_body={"top_k": 4})
    assert raw.headers["x-tierroute-dropped-params"] == "metadata,top_k"
    body = httpx.get(cluster.provider + "/fake/stats", timeout=5).json()["last_body"]
    assert body["seed"] == 3 and "metadata" not in body and "top_k" not in body


async def test_backend_itself_ignores_control_fields(cluster: Cluster, attacker: Listener) -> None:
    """Even a caller that skips parsing (a shadow request, say) cannot steer litellm."""
    backend = LiteLLMBackend(connect_timeout_s=5, read_timeout_s=30, env={"PROVIDER_KEY": PROVIDER_KEY})
    replica = Replica(key="f", id="frontier/0", tier="frontier", kind="litellm", model="openai/gpt-4o",
                      price=Price(input_per_mtok=1, output_per_mtok=1), api_base=cluster.provider + "/v1",
                      api_key_env="PROVIDER_KEY")
    httpx.post(cluster.provider + "/fake/reset", timeout=5)
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8,
            **hostile(attacker.url)}
    reply = await backend.complete(replica, Endpoint.CHAT, body, "rid-1")
    assert reply.data["choices"][0]["message"]["content"] != "pwned"  # mock_response ignored
    stats = httpx.get(cluster.provider + "/fake/stats", timeout=5).json()
    assert stats["requests"] == 1 and stats["unauthorized"] == 0  # the operator's key, to the operator's provider
    assert attacker.received == []
