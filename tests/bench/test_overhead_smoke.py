"""Smoke test of the overhead benchmark's pieces: the mock upstream and the floor proxy answer
correctly (whole and streamed, usage chunk and ``[DONE]`` included), and the load generator's
checks accept them. Not a timing test."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import loadgen  # noqa: E402

KEY = "sk-smoke"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{proc.args!r} exited with {proc.returncode}"
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    mock_a, mock_b, floor = _port(), _port(), _port()
    procs = [
        subprocess.Popen([sys.executable, str(BENCH / "mock_upstream.py"), "--port", str(mock_a), "--port",
                          str(mock_b)], start_new_session=True),
        subprocess.Popen([sys.executable, str(BENCH / "floor_proxy.py"), "--upstream", f"http://127.0.0.1:{mock_a}",
                          "--port", str(floor)], start_new_session=True),
    ]
    try:
        _wait(f"http://127.0.0.1:{mock_a}/health", procs[0])
        _wait(f"http://127.0.0.1:{floor}/health", procs[1])
        yield {"mock": f"http://127.0.0.1:{mock_a}", "mock_b": f"http://127.0.0.1:{mock_b}",
               "floor": f"http://127.0.0.1:{floor}"}
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _body(stream: bool, model: str = "bench-model") -> dict[str, object]:
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


def _events(raw: bytes) -> list[bytes]:
    return [e for e in raw.split(b"\n\n") if e.strip()]


@pytest.mark.parametrize("base", ["mock", "floor"])
def test_whole_answer(servers: dict[str, str], base: str) -> None:
    r = httpx.post(servers[base] + "/v1/chat/completions", json=_body(False),
                   headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    data = r.json()
    assert data["object"] == "chat.completion" and data["model"] == "bench-model"
    assert data["choices"][0]["message"]["role"] == "assistant" and data["choices"][0]["message"]["content"]
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"]["completion_tokens"] > 0
    assert data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]


@pytest.mark.parametrize("base", ["mock", "floor"])
def test_stream(servers: dict[str, str], base: str) -> None:
    with httpx.stream("POST", servers[base] + "/v1/chat/completions", json=_body(True), timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(r.iter_bytes())
    events = _events(raw)
    assert len(events) == 51  # ~50 chunks (role, content, finish, usage) + [DONE]
    assert events[-1] == b"data: [DONE]"
    chunks = [json.loads(e[len(b"data: "):]) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "bench-model" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == len(chunks) - 3
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1])


def test_stream_without_usage_option(servers: dict[str, str]) -> None:
    body = _body(True)
    body.pop("stream_options")
    raw = httpx.post(servers["floor"] + "/v1/chat/completions", json=body, timeout=10).content
    events = _events(raw)
    assert events[-1] == b"data: [DONE]" and b'"usage"' not in raw and len(events) == 50


def test_floor_passes_bytes_unchanged(servers: dict[str, str]) -> None:
    """Same body through the floor as from the mock, apart from the per-answer id and timestamp."""
    def norm(raw: bytes) -> list[dict[str, object]]:
        out = []
        for e in _events(raw)[:-1]:
            d = json.loads(e[len(b"data: "):])
            d.pop("id"), d.pop("created")
            out.append(d)
        return out

    direct = httpx.post(servers["mock"] + "/v1/chat/completions", json=_body(True), timeout=10).content
    floor = httpx.post(servers["floor"] + "/v1/chat/completions", json=_body(True), timeout=10).content
    assert norm(direct) == norm(floor)


def test_health_surface(servers: dict[str, str]) -> None:
    """What tierroute's health checker reads from a `kind: sglang` replica, on both ports."""
    for base in (servers["mock"], servers["mock_b"]):
        assert httpx.get(base + "/health", timeout=5).status_code == 200
        info = httpx.get(base + "/get_server_info", timeout=5).json()
        assert info["max_total_num_tokens"] > 0 and info["max_running_requests"] > 0
        assert httpx.get(base + "/metrics", timeout=5).status_code == 200
        assert httpx.get(base + "/v1/models", timeout=5).json()["data"]
    assert httpx.get(servers["mock"] + "/nope", timeout=5).status_code == 404


def test_loadgen_checks_pass_through_floor(servers: dict[str, str]) -> None:
    url = servers["floor"] + "/v1/chat/completions"
    whole = loadgen.run_python_sync(loadgen.Spec(url, "m", 4, 20, key=KEY, tag="smoke"))
    assert whole["count"] == 20 and whole["errors"] == 0
    streamed = loadgen.run_python_sync(loadgen.Spec(url, "m", 4, 12, stream=True, key=KEY, tag="smoke"))
    assert streamed["count"] == 12 and streamed["errors"] == 0
    assert streamed["no_done"] == 0 and streamed["no_usage"] == 0 and streamed["events_min"] == 51
    assert streamed["ttfb_p50_ms"] is not None and streamed["ttfb_p50_ms"] <= streamed["p50_ms"]


@pytest.mark.skipif(not loadgen.wrk_available(), reason="wrk is not installed")
def test_wrk_stops_after_the_count(servers: dict[str, str]) -> None:
    r = loadgen.run_wrk(loadgen.Spec(servers["mock"] + "/v1/chat/completions", "m", 4, 300, key=KEY, tag="smoke"))
    assert 300 <= r["count"] <= 300 + 4 and r["errors"] == 0 and r["elapsed_s"] < 30  # + in flight at the stop


def test_check_stream_rejects_truncated() -> None:
    assert loadgen.check_stream(b'data: {"choices":[]}\n\n') == (False, False, 1)
    done, usage, n = loadgen.check_stream(b'data: {"choices":[],"usage":{"completion_tokens":3}}\n\ndata: [DONE]\n\n')
    assert done and usage and n == 2
