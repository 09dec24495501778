"""POST /v1/feedback against a real proxy on loopback: labels stored, errors in OpenAI's shape."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from router.learning.labels import FileLabelStore, read_labels
from tests.integration.conftest import CLIENT_KEY, Cluster
from tests.learning.support import (
    OTHER_KEY,
    REDIS_URL,
    ask,
    feedback,
    learning_proxy,
    learning_section,
    learning_stats,
    wait_for,
)


def _labels(tmp_path: Path) -> list:
    return FileLabelStore(tmp_path / "labels.jsonl", 1000).read_sync()


def test_feedback_stores_labels_with_features_and_no_prompt(cluster: Cluster, tmp_path: Path) -> None:
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path)) as proxy:
        rid, tier, _ = ask(proxy, "What is the capital of France?")
        assert tier == "small"
        r = feedback(proxy, {"request_id": rid, "thumbs": "down", "comment": "wrong city"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["object"] == "feedback" and body["request_id"] == rid and body["target"] == 1.0
        rid2, tier2, _ = ask(proxy, "A hard question about proofs")
        assert tier2 == "large"
        assert feedback(proxy, {"request_id": rid2, "score": 0.75}).status_code == 200
        labels = {x.request_id: x for x in _labels(tmp_path)}
        assert set(labels) == {rid, rid2}
        down, scored = labels[rid], labels[rid2]
        assert (down.source, down.tier, down.target, down.extra["comment"]) == ("feedback", "small", 1.0, "wrong city")
        assert (scored.tier, scored.target, scored.score) == ("large", 0.25, 0.95)
        assert down.score == pytest.approx(0.1)
        assert down.prompt is None and scored.prompt is None  # store_prompts is off by default
        assert down.features and set(down.features) >= {"tf"}
        stats = learning_stats(proxy)
        assert stats["labels"]["stored_here"]["feedback"] == 2
        assert stats["feedback"]["stored"] == 2


def test_feedback_keeps_prompts_when_asked(cluster: Cluster, tmp_path: Path) -> None:
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path, store_prompts=True)) as proxy:
        rid, _, _ = ask(proxy, "Name three primary colours.")
        assert feedback(proxy, {"request_id": rid, "thumbs": "up"}).status_code == 200
        [label] = _labels(tmp_path)
        assert label.prompt == "Name three primary colours." and label.target == 0.0


@pytest.mark.parametrize("body, param", [
    ({"request_id": "x", "score": 1.5}, "score"),
    ({"request_id": "x", "score": "good"}, "score"),
    ({"request_id": "x", "score": True}, "score"),
    ({"request_id": "x", "thumbs": "sideways"}, "thumbs"),
    ({"request_id": "x", "score": 0.5, "thumbs": "up"}, "score"),
    ({"request_id": "x"}, "score"),
    ({"score": 0.5}, "request_id"),
    ({"request_id": "x", "score": 0.5, "comment": 7}, "comment"),
])
def test_bad_feedback_is_422(cluster: Cluster, tmp_path: Path, body: dict, param: str) -> None:
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path)) as proxy:
        r = feedback(proxy, body)
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error" and err["param"] == param and err["message"]
        assert _labels(tmp_path) == []


def test_unknown_or_foreign_request_is_404(cluster: Cluster, tmp_path: Path) -> None:
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path)) as proxy:
        r = feedback(proxy, {"request_id": "no-such-request", "thumbs": "up"})
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "request_not_found"
        rid, _, _ = ask(proxy, "hello there")
        r = feedback(proxy, {"request_id": rid, "thumbs": "up"}, key=OTHER_KEY)  # not this key's request
        assert r.status_code == 404 and r.json()["error"]["code"] == "request_not_found"
        assert feedback(proxy, {"request_id": rid, "thumbs": "up"}, key="sk-wrong").status_code == 401
        assert feedback(proxy, {"request_id": rid, "thumbs": "up"}).status_code == 200
        bad = feedback(proxy, {"request_id": rid, "thumbs": "up"}, key=OTHER_KEY)
        assert bad.status_code == 404
        r2 = httpx.post(proxy.v1 + "/feedback", content=b"{not json", timeout=10,
                        headers={"Authorization": f"Bearer {CLIENT_KEY}"})
        assert r2.status_code == 400 and r2.json()["error"]["code"] == "invalid_json"
        assert len(_labels(tmp_path)) == 1


def test_feedback_off_is_404(cluster: Cluster, tmp_path: Path) -> None:
    with learning_proxy(cluster, tmp_path, learning_section(tmp_path, feedback={"enabled": False})) as proxy:
        rid, _, _ = ask(proxy, "hello")
        r = feedback(proxy, {"request_id": rid, "thumbs": "up"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "feedback_disabled"


def test_feedback_reaches_any_proxy_through_redis(cluster: Cluster, tmp_path: Path) -> None:
    """Two proxies on one Redis: feedback to B about A's request; both write one shared stream."""
    section = learning_section(tmp_path)
    with learning_proxy(cluster, tmp_path, section, redis_url=REDIS_URL) as a, \
            learning_proxy(cluster, tmp_path, section, redis_url=REDIS_URL) as b:
        rid_a, _, _ = ask(a, "Which ocean is the largest?")
        rid_b, _, _ = ask(b, "How many legs has a spider?")
        where = {"redis_url": REDIS_URL, "prefix": section["redis_prefix"]}
        # A remembers its request in Redis once the features are computed (a background batch)
        wait_for(lambda: feedback(b, {"request_id": rid_a, "score": 0.0}).status_code == 200,
                 what="cross-proxy feedback")
        assert feedback(a, {"request_id": rid_b, "thumbs": "up"}).status_code == 200
        labels = read_labels(**where)
        assert {x.request_id for x in labels} == {rid_a, rid_b}
        assert next(x for x in labels if x.request_id == rid_a).features
        assert not (tmp_path / "labels.jsonl").exists()  # Redis, not the file
        counts = wait_for(lambda: (c := learning_stats(a)["labels"]["store"].get("by_source"))
                          and c["feedback"] == 2 and c, what="store counts")
        assert counts["feedback"] == 2
