"""Auto routing over time: conversations keep their tier, share-based cut points follow traffic."""

from __future__ import annotations

import time

import httpx
import openai

from router.cli import main
from tests.integration.conftest import ADMIN_KEY, CLIENT_KEY, Cluster, default_policy


def _chat(c: openai.OpenAI, messages: list[dict], headers: dict | None = None) -> tuple[str, str]:
    raw = c.chat.completions.with_raw_response.create(model="auto", messages=messages, max_tokens=4,  # type: ignore[arg-type]
                                                      extra_headers=headers)
    return raw.headers["x-tierroute-tier"], raw.headers["x-tierroute-reason"]


def test_conversation_keeps_its_tier_and_escalates(make_proxy, cluster: Cluster) -> None:
    with make_proxy() as proxy:
        c = openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0, timeout=30)
        msgs = [{"role": "system", "content": "You help."}, {"role": "user", "content": "a medium question"}]
        assert _chat(c, msgs) == ("large", "auto")
        msgs += [{"role": "assistant", "content": "an answer"}, {"role": "user", "content": "thanks, easy one"}]
        assert _chat(c, msgs) == ("large", "sticky")  # an easy follow-up stays on the conversation's tier
        msgs += [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "now a hard one"}]
        assert _chat(c, msgs) == ("frontier", "auto")  # escalates
        msgs += [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "easy again"}]
        assert _chat(c, msgs) == ("frontier", "sticky")  # never drops back
        assert _chat(c, [{"role": "user", "content": "easy again"}]) == ("small", "auto")  # a new conversation
        h = {"x-tierroute-session": "sess-1"}
        assert _chat(c, [{"role": "user", "content": "a medium one"}], h) == ("large", "auto")
        assert _chat(c, [{"role": "user", "content": "unrelated easy text"}], h) == ("large", "sticky")
        stats = proxy.admin("/admin/stats")
        assert stats["conversations"] == {"escalations": 1, "held": 3}


def test_stickiness_can_be_turned_off(make_proxy, cluster: Cluster) -> None:
    pol = default_policy(cluster)
    pol["routing"]["sticky"] = {"enabled": False}
    with make_proxy(pol) as proxy:
        c = openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0, timeout=30)
        msgs = [{"role": "user", "content": "a medium question"}]
        assert _chat(c, msgs)[0] == "large"
        msgs += [{"role": "assistant", "content": "x"}, {"role": "user", "content": "easy"}]
        assert _chat(c, msgs) == ("small", "auto")


def test_share_policy_routes_the_target_shares_and_reports_drift(make_proxy, cluster: Cluster) -> None:
    pol = default_policy(cluster)
    pol["routing"] = {"auto": [{"tier": "small", "share": 0.5}, {"tier": "large", "share": 0.25},
                               {"tier": "frontier", "share": 0.25}], "min_samples": 40}
    with make_proxy(pol, classifier=_LengthScore()) as proxy:
        c = openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0, timeout=30)
        for i in range(80):  # scores spread evenly: prompt i scores i/100
            c.chat.completions.create(model="auto", max_tokens=2, messages=[{"role": "user", "content": "x" * i}])
        tiers = [_chat(c, [{"role": "user", "content": "x" * (i * 4)}])[0] for i in range(20)]
        doc = httpx.get(proxy.url + "/admin/scores", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()
        stats = proxy.admin("/admin/stats")
    assert doc["count"] == 100 and doc["mode"] == "share" and doc["cuts_from"] == "traffic"
    lo, hi = doc["cuts"]
    assert 0.35 < lo < 0.45 and 0.55 < hi < 0.65  # the median and 3rd quartile of the scores seen
    assert 7 <= tiers.count("small") <= 12 and tiers.count("frontier") >= 3  # ~50% / 25% of these probes
    routed = stats["auto_routing"]["tiers"]
    assert routed["small"]["target_share"] == 0.5 and routed["small"]["routed_share"] is not None


class _LengthScore:
    """Scores a prompt by its length: 'x' * i scores i / 100."""

    name = "length"

    def score(self, texts):
        import numpy as np

        return np.array([min(len(t), 99) / 100 for t in texts])

    def describe(self) -> dict:
        return {"kind": "fake"}


def test_calibrate_from_proxy_writes_the_policy_and_the_proxy_follows(make_proxy, cluster: Cluster, capsys) -> None:
    with make_proxy(classifier=_LengthScore()) as proxy:  # fixed cuts: small < 0.5 <= large < 0.8 <= frontier
        c = openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0, timeout=30)
        for i in range(60):  # scores 0.00 .. 0.59: only 10 of 60 reach the large tier
            c.chat.completions.create(model="auto", max_tokens=2, messages=[{"role": "user", "content": "x" * i}])
        digest = proxy.admin("/admin/policy")["digest"]
        assert main(["calibrate", "--from-proxy", proxy.url, "--admin-key", ADMIN_KEY, "--strong-fraction", "0.5",
                     "--write", str(proxy.policy_path)]) == 0
        out = capsys.readouterr().out
        assert "60 recent scores" in out and "the proxy routes now: small 83.3%" in out
        assert "routing.auto[0].below 0.5 -> 0.29" in out  # half of the traffic seen scores >= 0.295
        deadline = time.monotonic() + 5
        while proxy.admin("/admin/policy")["digest"] == digest and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _chat(c, [{"role": "user", "content": "x" * 40}])[0] == "large"  # 0.40 used to be small


def test_conversations_stay_put_across_proxies_sharing_redis(cluster: Cluster, tmp_path, shared_redis) -> None:
    from classifiers.fake import FunctionClassifier
    from router.app import create_app
    from router.settings import Settings
    from tests.integration.conftest import PROVIDER_KEY, keyword_score
    from tests.support import ServerThread, write_policy

    cluster.reset()
    path = write_policy(tmp_path / "p.yaml", default_policy(cluster))
    env = {"TIERROUTE_API_KEYS": CLIENT_KEY, "PROVIDER_KEY": PROVIDER_KEY}
    apps = [create_app(Settings(policy_path=str(path), redis_url="redis://127.0.0.1:6379/0"),
                       classifier=FunctionClassifier(keyword_score), env=env) for _ in range(2)]
    with ServerThread(apps[0]) as a, ServerThread(apps[1]) as b:
        ca, cb = (openai.OpenAI(base_url=s.url + "/v1", api_key=CLIENT_KEY, max_retries=0) for s in (a, b))
        msgs = [{"role": "user", "content": f"a medium question {time.time()}"}]
        assert _chat(ca, msgs) == ("large", "auto")
        msgs += [{"role": "assistant", "content": "x"}, {"role": "user", "content": "easy"}]
        assert _chat(cb, msgs) == ("large", "sticky")  # the other proxy knows the conversation
