from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import orjson
import pytest

from fleet.sim.worker import WorkerConfig, add_arguments, config_from_args

from .conftest import parse_prometheus

SYSTEM: Any = {"role": "system", "content": "You are a meticulous assistant who answers questions. " * 20}
StartWorker = Callable[..., str]


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)


def _sse_payloads(text: str) -> list[bytes]:
    events = [e for e in text.split("\n\n") if e.strip()]
    assert all(e.startswith("data: ") for e in events)
    return [e[6:].encode() for e in events]


def test_chat_usage_and_cache_growth_on_shared_prefix(start_worker: StartWorker) -> None:
    url = start_worker(model="sim-small")
    client = _client(url)
    r1 = client.chat.completions.create(model="whatever", messages=[SYSTEM, {"role": "user", "content": "Hi"}])
    assert r1.model == "sim-small" and r1.object == "chat.completion"
    assert r1.choices[0].message.role == "assistant" and r1.choices[0].message.content
    assert r1.choices[0].finish_reason == "stop"
    u1: Any = r1.usage
    assert u1 is not None and u1.prompt_tokens > 200
    assert 16 <= u1.completion_tokens <= 64
    assert u1.total_tokens == u1.prompt_tokens + u1.completion_tokens
    assert u1.prompt_tokens_details is not None and u1.prompt_tokens_details.cached_tokens == 0
    # Another user on the same system prompt: the system prefix is cached.
    r2: Any = client.chat.completions.create(model="x", messages=[SYSTEM, {"role": "user", "content": "Other"}])
    assert r2.usage is not None and r2.usage.prompt_tokens_details is not None
    assert r2.usage.prompt_tokens_details.cached_tokens >= 200
    # The next turn of the first conversation: its whole previous prompt + reply are cached.
    history = [SYSTEM, {"role": "user", "content": "Hi"},
               {"role": "assistant", "content": r1.choices[0].message.content},
               {"role": "user", "content": "And then?"}]
    r3 = client.chat.completions.create(model="x", messages=history)
    assert r3.usage is not None and r3.usage.prompt_tokens_details is not None
    assert r3.usage.prompt_tokens_details.cached_tokens == u1.total_tokens
    stats = httpx.get(url + "/sim/stats").json()
    assert stats["requests"] == 3 and stats["finished"] == 3
    assert stats["cached_tokens"] == 0 + r2.usage.prompt_tokens_details.cached_tokens + u1.total_tokens
    assert stats["completion_tokens"] == sum(r.usage.completion_tokens for r in (r1, r2, r3) if r.usage)
    assert stats["running"] == 0 and stats["queued"] == 0 and stats["cache_tokens_in_use"] > 0


def test_determinism_and_max_tokens(start_worker: StartWorker) -> None:
    url = start_worker()
    client = _client(url)
    msgs: list[Any] = [{"role": "user", "content": "Write a poem."}]
    a = client.chat.completions.create(model="m", messages=msgs)
    b = client.chat.completions.create(model="m", messages=msgs)
    assert a.choices[0].message.content == b.choices[0].message.content
    c = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Write a song."}])
    assert c.choices[0].message.content != a.choices[0].message.content
    d = client.chat.completions.create(model="m", messages=msgs, max_tokens=5)
    assert d.usage is not None and d.usage.completion_tokens == 5 and d.choices[0].finish_reason == "length"
    e = client.chat.completions.create(model="m", messages=msgs, max_completion_tokens=3, seed=1,
                                       response_format={"type": "json_object"}, temperature=0.2,
                                       tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
    assert e.usage is not None and e.usage.completion_tokens == 3
    other_seed = start_worker(seed=42)
    f = _client(other_seed).chat.completions.create(model="m", messages=msgs)
    assert f.choices[0].message.content != a.choices[0].message.content


def test_chat_stream_shape(start_worker: StartWorker) -> None:
    url = start_worker(model="sim-large")
    body = {"model": "m", "messages": [{"role": "user", "content": "Stream please"}], "stream": True,
            "stream_options": {"include_usage": True}}
    r = httpx.post(url + "/v1/chat/completions", json=body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    payloads = _sse_payloads(r.text)
    assert payloads[-1] == b"[DONE]"
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "sim-large" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("usage" in c and c["usage"] is None for c in chunks[:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    last = chunks[-1]
    assert last["choices"] == [] and last["usage"]["completion_tokens"] > 0
    assert set(last["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details"}
    text = "".join(c["choices"][0]["delta"]["content"] or "" for c in chunks[:-1])
    plain = httpx.post(url + "/v1/chat/completions", json={**body, "stream": False}).json()
    assert text == plain["choices"][0]["message"]["content"]
    assert plain["usage"]["completion_tokens"] == last["usage"]["completion_tokens"]
    assert plain["usage"]["prompt_tokens_details"]["cached_tokens"] == last["usage"]["prompt_tokens"] - 1
    # Without include_usage: no usage chunk, still [DONE].
    r = httpx.post(url + "/v1/chat/completions", json={**body, "stream_options": None})
    chunks = [orjson.loads(p) for p in _sse_payloads(r.text)[:-1]]
    assert all(c["choices"] for c in chunks)


def test_openai_sdk_streaming(start_worker: StartWorker) -> None:
    client = _client(start_worker())
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hello"}],
                                            stream=True, stream_options={"include_usage": True}, max_tokens=20)
    parts, usage, finish = [], None, None
    for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert usage is not None and usage.completion_tokens == 20 and finish == "length"
    assert "".join(parts)


def test_completions_endpoint(start_worker: StartWorker) -> None:
    url = start_worker()
    client = _client(url)
    r = client.completions.create(model="m", prompt="Once upon a time")
    assert r.object == "text_completion" and r.usage is not None
    assert r.usage.completion_tokens == 16  # SGLang's default max_tokens for /v1/completions
    assert r.choices[0].finish_reason == "length"
    r2 = client.completions.create(model="m", prompt=[101, 102, 103], max_tokens=100)
    assert r2.usage is not None and r2.usage.prompt_tokens == 3
    stream = client.completions.create(model="m", prompt="Once upon a time", stream=True,
                                       stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == r.choices[0].text
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens_details is not None
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == r.usage.prompt_tokens - 1


def test_native_generate(start_worker: StartWorker) -> None:
    url = start_worker()
    r = httpx.post(url + "/generate", json={"text": "The capital of France is",
                                            "sampling_params": {"max_new_tokens": 8, "temperature": 0}})
    data = r.json()
    assert r.status_code == 200 and data["text"]
    meta = data["meta_info"]
    assert meta["completion_tokens"] == 8 and meta["finish_reason"] == {"type": "length", "length": 8}
    assert meta["prompt_tokens"] == 5 and meta["cached_tokens"] == 0
    r = httpx.post(url + "/generate", json={"input_ids": [5, 6, 7, 8], "stream": True})
    payloads = _sse_payloads(r.text)
    assert payloads[-1] == b"[DONE]"
    last = orjson.loads(payloads[-2])
    assert last["meta_info"]["finish_reason"]["type"] == "stop"
    assert orjson.loads(payloads[0])["meta_info"]["finish_reason"] is None
    r = httpx.post(url + "/generate", json={"sampling_params": {}})
    assert r.status_code == 400 and "error" in r.json()


def test_errors_in_sglang_shape(start_worker: StartWorker) -> None:
    url = start_worker(context_length=300)
    post = url + "/v1/chat/completions"

    def check(r: httpx.Response, kind: str) -> str:
        body = r.json()
        assert r.status_code == 400 and body["object"] == "error" and body["code"] == 400
        assert body["type"] == kind and body["param"] is None
        return str(body["message"])

    check(httpx.post(post, content=b"{not json", headers={"content-type": "application/json"}), "Bad Request")
    assert "messages" in check(httpx.post(post, json={"model": "m"}), "Bad Request")
    check(httpx.post(post, content=b"{}", headers={"content-type": "text/plain"}), "Bad Request")
    assert "empty" in check(httpx.post(post, json={"model": "m", "messages": []}), "BadRequestError")
    check(httpx.post(post, json={"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}), "Bad Request")
    check(httpx.post(post, json={"messages": [{"role": "user", "content": "x"}], "n": 2}), "BadRequestError")
    long = [{"role": "user", "content": "word " * 400}]
    assert "context length" in check(httpx.post(post, json={"messages": long}), "BadRequestError")
    with pytest.raises(openai.BadRequestError):
        _client(url).chat.completions.create(model="m", messages=[])
    assert httpx.get(url + "/nope").status_code == 404


def test_health_toggle_and_injected_failures(start_worker: StartWorker) -> None:
    url = start_worker()
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    assert httpx.get(url + "/health").status_code == 200
    assert httpx.get(url + "/health_generate").status_code == 200
    assert httpx.post(url + "/sim/health", json={"healthy": False}).json() == {"healthy": False}
    assert httpx.get(url + "/health").status_code == 503
    r = httpx.post(url + "/v1/chat/completions", json=chat)
    assert r.status_code == 503 and r.json()["object"] == "error"
    httpx.post(url + "/sim/health", json={"healthy": True})
    assert httpx.get(url + "/health").status_code == 200
    assert httpx.post(url + "/sim/fail", json={"fail_next": 2, "status": 500}).status_code == 200
    statuses = [httpx.post(url + "/v1/chat/completions", json=chat).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    httpx.post(url + "/sim/fail", json={"count": 1, "status": 429})
    with pytest.raises(openai.RateLimitError):
        _client(url).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert httpx.post(url + "/sim/fail", json={"status": 200}).status_code == 400
    assert httpx.get(url + "/sim/stats").json()["failed"] == 3


def test_fault_modes_hang_after_headers_and_malformed_sse(start_worker: StartWorker) -> None:
    url = start_worker()
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(url + "/sim/fault", json={"mode": "hang_after_headers", "count": 2}).status_code == 200
    with httpx.Client(timeout=httpx.Timeout(5, read=0.5)) as c:
        for stream in (True, False):
            with c.stream("POST", url + "/v1/chat/completions", json={**chat, "stream": stream}) as r:
                assert r.status_code == 200  # the headers come ...
                with pytest.raises(httpx.ReadTimeout):  # ... the body never does
                    r.read()
    assert httpx.post(url + "/v1/chat/completions", json=chat).status_code == 200  # count spent
    assert httpx.post(url + "/sim/fault", json={"mode": "malformed_sse"}).json() == {"mode": "malformed_sse",
                                                                                     "count": -1}
    for _ in range(2):  # until cleared
        r = httpx.post(url + "/v1/chat/completions", json={**chat, "stream": True})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [e for e in r.content.split(b"\n\n") if e.strip()]
        assert events[-1] == b"data: [DONE]"
        for e in events[:-1]:  # none is a JSON chunk
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(e.removeprefix(b"data: "))
        r = httpx.post(url + "/v1/chat/completions", json=chat)
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(r.content)
    assert httpx.get(url + "/sim/stats").json()["fault"] == "malformed_sse"
    httpx.post(url + "/sim/fault", json={"mode": None})
    assert httpx.post(url + "/v1/chat/completions", json=chat).status_code == 200
    assert httpx.post(url + "/sim/fault", json={"mode": "explode"}).status_code == 400
    assert httpx.get(url + "/sim/stats").json()["failed"] == 6


def test_queueing_under_max_running_requests(start_worker: StartWorker) -> None:
    url = start_worker(max_running_requests=2, ttft_ms=100.0, decode_tokens_per_s=100_000.0)

    async def run() -> tuple[float, list[dict[str, Any]], str]:
        async with httpx.AsyncClient(base_url=url, timeout=10) as c:
            body = {"messages": [{"role": "user", "content": "q"}], "max_tokens": 4}
            t0 = time.perf_counter()
            tasks = [asyncio.create_task(c.post("/v1/chat/completions", json=body)) for _ in range(6)]
            await asyncio.sleep(0.05)
            during = (await c.get("/sim/stats")).json()
            metrics = (await c.get("/metrics")).text
            load = (await c.get("/get_load")).json()
            results = await asyncio.gather(*tasks)
            assert all(r.status_code == 200 for r in results)
            return time.perf_counter() - t0, [during, load[0]], metrics

    elapsed, (during, load), metrics_text = asyncio.run(run())
    assert during["running"] == 2 and during["queued"] == 4
    assert load["num_reqs"] == 6 and load["num_waiting_reqs"] == 4
    samples = parse_prometheus(metrics_text)
    assert samples["sglang:num_queue_reqs"][0][1] == 4.0
    assert samples["sglang:num_running_reqs"][0][1] == 2.0
    assert elapsed >= 0.29  # three waves of ~100 ms each
    after = httpx.get(url + "/sim/stats").json()
    assert after["running"] == 0 and after["queued"] == 0 and after["finished"] == 6


def test_lru_eviction_under_small_capacity(start_worker: StartWorker) -> None:
    url = start_worker(max_total_tokens=500)
    client = _client(url)

    def cached(topic: str) -> int:
        msgs: Any = [{"role": "system", "content": f"Context about {topic}. " * 40},
                     {"role": "user", "content": "Summarize."}]
        r = client.chat.completions.create(model="m", messages=msgs, max_tokens=4)
        assert r.usage is not None and r.usage.prompt_tokens_details is not None
        return int(r.usage.prompt_tokens_details.cached_tokens or 0)

    # A miss still matches the template's first few tokens ("<|system|>\nContext about").
    assert cached("apples") == 0
    assert cached("apples") > 150  # hit
    assert cached("pears") < 10
    assert cached("plums") < 10  # 3 x ~175 tokens > 500: apples (least recently used) is evicted
    assert cached("apples") < 10
    assert cached("plums") > 150
    stats = httpx.get(url + "/sim/stats").json()
    assert stats["cache_tokens_in_use"] <= 500 and stats["cache_tokens_evicted"] > 0


def test_metrics_text(start_worker: StartWorker) -> None:
    url = start_worker(model="sim-large", speculative=True, spec_accept_length=3.0)
    client = _client(url)
    for _ in range(2):
        client.chat.completions.create(model="m", messages=[SYSTEM, {"role": "user", "content": "x"}])
    r = httpx.get(url + "/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    samples = parse_prometheus(r.text)

    def value(name: str) -> float:
        (labels, v), = samples[name]
        assert labels["model_name"] == "sim-large"
        return v

    for name in ("sglang:num_running_reqs", "sglang:num_queue_reqs", "sglang:token_usage",
                 "sglang:gen_throughput", "sglang:num_used_tokens", "sglang:max_total_num_tokens"):
        value(name)
    stats = httpx.get(url + "/sim/stats").json()
    assert value("sglang:num_requests_total") == 2
    assert value("sglang:prompt_tokens_total") == stats["prompt_tokens"]
    assert value("sglang:generation_tokens_total") == stats["completion_tokens"]
    assert value("sglang:cached_tokens_total") == stats["cached_tokens"] > 0
    assert value("sglang:cache_hit_rate") == pytest.approx(stats["cached_tokens"] / stats["prompt_tokens"])
    assert value("sglang:spec_accept_length") == 3.0
    assert value("sglang:gen_throughput") > 0
    buckets = samples["sglang:time_to_first_token_seconds_bucket"]
    assert buckets[-1][0]["le"] == "+Inf" and buckets[-1][1] == 2
    assert value("sglang:time_to_first_token_seconds_count") == 2


def test_info_endpoints(start_worker: StartWorker) -> None:
    url = start_worker(model="sim-large", model_path="org/Sim-70B", speculative=True, max_total_tokens=12345,
                       max_running_requests=7)
    info = httpx.get(url + "/get_server_info").json()
    assert info["model_path"] == "org/Sim-70B" and info["served_model_name"] == "sim-large"
    assert info["max_total_num_tokens"] == 12345 and info["max_total_tokens"] == 12345
    assert info["max_running_requests"] == 7 and info["speculative_algorithm"] == "EAGLE"
    assert info["dp_size"] == 1 and isinstance(info["version"], str)
    state, = info["internal_states"]
    assert state["memory_usage"]["token_capacity"] == 12345 and "avg_spec_accept_length" in state
    assert httpx.get(start_worker() + "/get_server_info").json()["speculative_algorithm"] is None
    model_info = httpx.get(url + "/get_model_info").json()
    assert model_info["model_path"] == "org/Sim-70B" and model_info["is_generation"] is True
    models = _client(url).models.list()
    assert [m.id for m in models.data] == ["sim-large"]
    assert httpx.get(url + "/v1/models/sim-large").json()["id"] == "sim-large"
    assert httpx.get(url + "/v1/models/other").status_code == 404


def test_reset_and_flush_cache(start_worker: StartWorker) -> None:
    url = start_worker()
    client = _client(url)
    msgs: Any = [SYSTEM, {"role": "user", "content": "a"}]
    client.chat.completions.create(model="m", messages=msgs)
    assert httpx.post(url + "/flush_cache").status_code == 200
    r = client.chat.completions.create(model="m", messages=msgs)
    assert r.usage is not None and r.usage.prompt_tokens_details is not None
    assert r.usage.prompt_tokens_details.cached_tokens == 0
    stats = httpx.post(url + "/sim/reset").json()
    assert stats["requests"] == 0 and stats["cache_tokens_in_use"] == 0


def test_client_disconnect_mid_stream_releases_slot(start_worker: StartWorker) -> None:
    url = start_worker(decode_tokens_per_s=20.0, max_running_requests=1)
    body = {"messages": [{"role": "user", "content": "long"}], "stream": True}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                break
    deadline = time.monotonic() + 5
    while httpx.get(url + "/sim/stats").json()["running"] and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = httpx.get(url + "/sim/stats").json()
    assert stats["running"] == 0 and stats["aborted"] == 1 and stats["cache_tokens_locked"] == 0


def test_speculative_decoding_is_faster(start_worker: StartWorker) -> None:
    def timed(url: str) -> float:
        body = {"messages": [{"role": "user", "content": "q"}], "max_tokens": 31}
        t0 = time.perf_counter()
        assert httpx.post(url + "/v1/chat/completions", json=body).status_code == 200
        return time.perf_counter() - t0

    plain_url = start_worker(decode_tokens_per_s=200.0)  # 30 steps of 5 ms
    spec_url = start_worker(decode_tokens_per_s=200.0, speculative=True, spec_accept_length=3.0)  # 10 steps
    # Best of three, compared by difference: machine load adds to both alike (no timing target here).
    plain = min(timed(plain_url) for _ in range(3))
    spec = min(timed(spec_url) for _ in range(3))
    assert plain >= 0.15 and plain - spec > 0.06


def test_cli_flags_round_trip() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_args(parser.parse_args([])) == WorkerConfig()
    ns = parser.parse_args(["--model", "sim-large", "--ttft-ms", "40", "--prefill-tps", "9000", "--decode-tps", "45",
                            "--max-running-requests", "8", "--max-total-tokens", "50000", "--speculative",
                            "--spec-accept-length", "3.2", "--seed", "5", "--context-length", "8192"])
    cfg = config_from_args(ns)
    assert cfg == WorkerConfig(
        model="sim-large", ttft_ms=40, prefill_tokens_per_s=9000, decode_tokens_per_s=45, max_running_requests=8,
        max_total_tokens=50000, speculative=True, spec_accept_length=3.2, seed=5, context_length=8192)
    with pytest.raises(ValueError):
        WorkerConfig(decode_tokens_per_s=0)
