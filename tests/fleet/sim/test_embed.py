"""The simulator's ``/v1/embeddings`` (fleet/sim/embed.py): deterministic, OpenAI's base64, errors."""

from __future__ import annotations

import base64
import struct

import pytest
from starlette.testclient import TestClient

from fleet.sim import embed, fake_provider, worker
from fleet.sim.tokenize import Tokenizer


def test_vectors_are_deterministic_unit_vectors_and_base64_is_float32_le() -> None:
    tok = Tokenizer()
    a = embed.embeddings({"input": ["same", "other", "same"]}, tok, "m")
    v = [d["embedding"] for d in a["data"]]
    assert v[0] == v[2] != v[1] and abs(sum(x * x for x in v[0]) - 1) < 1e-9
    b = embed.embeddings({"input": "same", "encoding_format": "base64", "dimensions": 5}, tok, "m")
    raw = base64.b64decode(b["data"][0]["embedding"])
    decoded = struct.unpack("<5f", raw)
    assert all(abs(x - y) < 1e-6 for x, y in zip(decoded, embed.vector(b"m\0same", 5), strict=True))
    assert a["usage"]["prompt_tokens"] == 2 * tok.count("same") + tok.count("other")
    ids = embed.embeddings({"input": [[1, 2, 3], [4]]}, tok, "m")
    assert ids["usage"]["prompt_tokens"] == 4 and len(ids["data"]) == 2


@pytest.mark.parametrize(("body", "param"), [({"input": []}, "input"), ({"input": [""]}, "input"),
                                             ({"input": "x", "encoding_format": "hex"}, "encoding_format"),
                                             ({"input": "x", "dimensions": True}, "dimensions")])
def test_bad_requests(body: dict, param: str) -> None:
    with pytest.raises(embed.EmbedError) as ei:
        embed.embeddings(body, Tokenizer(), "m")
    assert ei.value.param == param


def test_worker_and_provider_serve_it() -> None:
    with TestClient(worker.create_app(worker.WorkerConfig(model="sim-embed"))) as w:
        r = w.post("/v1/embeddings", json={"model": "anything", "input": "hi"})
        assert r.status_code == 200 and r.json()["model"] == "sim-embed"  # SGLang names its own model
        assert w.post("/v1/embeddings", json={"input": []}).status_code == 400
    cfg = fake_provider.FakeProviderConfig(api_key="k", latency_ms=0)
    with TestClient(fake_provider.create_app(cfg)) as p:
        assert p.post("/v1/embeddings", json={"model": "m", "input": "hi"}).status_code == 401
        r = p.post("/v1/embeddings", json={"model": "m", "input": "hi"}, headers={"Authorization": "Bearer k"})
        assert r.status_code == 200 and r.json()["data"][0]["object"] == "embedding"
