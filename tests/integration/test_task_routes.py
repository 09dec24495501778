"""Task routes through a proxy: a code request goes where the policy's rule says, without scoring;
the rule shows in x-tierroute-reason and in /admin/stats."""

from __future__ import annotations

import openai

from tests.integration.conftest import CLIENT_KEY, Cluster, default_policy


def test_code_goes_to_the_code_tier(make_proxy, cluster: Cluster) -> None:
    pol = default_policy(cluster)
    pol["routing"]["rules"] = [{"name": "code", "when": {"task": "code"}, "tier": "large"},
                               {"name": "tools-small", "when": {"tools": True}, "tier": "small"}]
    with make_proxy(pol) as proxy:
        c = openai.OpenAI(base_url=proxy.v1, api_key=CLIENT_KEY, max_retries=0)
        r = c.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "Write a python function to reverse a list."}])
        assert (r.headers["x-tierroute-tier"], r.headers["x-tierroute-reason"]) == ("large", "rule:code")
        assert "x-tierroute-score" not in r.headers  # the classifier was not asked
        tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
        r = c.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "a hard one"}], tools=tools)
        assert (r.headers["x-tierroute-tier"], r.headers["x-tierroute-reason"]) == ("small", "rule:tools-small")
        r = c.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "a hard one"}])
        assert (r.headers["x-tierroute-tier"], r.headers["x-tierroute-reason"]) == ("frontier", "auto")
        reasons = proxy.admin("/admin/stats")["routing_reasons"]
        assert reasons["rule:code"] == 1 and reasons["rule:tools-small"] == 1
