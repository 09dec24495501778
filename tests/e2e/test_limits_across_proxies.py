"""Issue 10, point 7, as users run it: three `tierroute serve` processes on one Redis share each key's
requests-per-minute limit and spend budget (in total, not three times), a budget that says
`downgrade` sends requests to the cheapest tier, and with Redis gone each proxy falls back to its
own limits without a request waiting on Redis."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from fleet.sim import worker
from router.procs import ProcessGroup, free_port, tierroute_cmd
from tests.conftest import RedisServer
from tests.support import ServerThread, policy_dict

ADMIN = "sk-lim-admin"
KEYS = {"CAPPED_KEY": "sk-capped", "SPENDER_KEY": "sk-spender", "THRIFTY_KEY": "sk-thrifty",
        "LOCAL_KEY": "sk-local"}
RPM = 6  # one request back every 10 s
BUDGET_USD = 0.09  # not a multiple of a request's cost: no float ties at the cap
PROMPT = [{"role": "user", "content": "Count to three."}]


def _policy(small: str, large: str) -> dict[str, Any]:
    pol = policy_dict(small=[small], large=[large])
    # prices high enough that a few requests use up the budget ($0.025 a request at small, $0.05 at large)
    pol["tiers"][0]["price"] = {"input_per_mtok": 1000.0, "output_per_mtok": 2000.0}
    pol["tiers"][1]["price"] = {"input_per_mtok": 2000.0, "output_per_mtok": 4000.0}
    pol["auth"] = {"client_keys": [
        {"name": "capped", "key_env": "CAPPED_KEY", "requests_per_minute": RPM},
        {"name": "spender", "key_env": "SPENDER_KEY", "budget": {"usd_per_day": BUDGET_USD}},
        {"name": "thrifty", "key_env": "THRIFTY_KEY",
         "budget": {"usd_per_day": BUDGET_USD, "on_exhausted": "downgrade"}},
        {"name": "local", "key_env": "LOCAL_KEY", "requests_per_minute": 4},
    ]}
    return pol


def _ask(base: str, key: str, model: str = "small") -> httpx.Response:
    return httpx.post(base + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=10,
                      json={"model": model, "messages": PROMPT, "max_tokens": 8})


def test_three_proxies_share_limits_and_budgets_through_redis(tmp_path: Path, private_redis: RedisServer) -> None:
    sims = [worker.create_app(worker.WorkerConfig(model=m, ttft_ms=1, decode_tokens_per_s=20000))
            for m in ("sim-small", "sim-large")]
    with ServerThread(sims[0]) as small, ServerThread(sims[1]) as large, ProcessGroup(tmp_path / "logs") as procs:
        policy = tmp_path / "policy.yaml"
        policy.write_text(yaml.safe_dump(_policy(small.url, large.url)))
        bases = []
        for i in range(3):
            port = free_port()
            procs.start(f"proxy{i}", tierroute_cmd("serve", "--policy", str(policy), "--port", str(port),
                                                   "--redis-url", private_redis.url),
                        env={**KEYS, "TIERROUTE_ADMIN_KEY": ADMIN})
            bases.append(f"http://127.0.0.1:{port}")
        for i, base in enumerate(bases):
            procs.wait_http(f"proxy{i}", base + "/ready", timeout=180)

        # requests per minute: RPM in total across the three, not 3 x RPM
        started, codes = time.monotonic(), []
        for i in range(5 * RPM):
            codes.append(_ask(bases[i % 3], KEYS["CAPPED_KEY"]).status_code)
        elapsed = time.monotonic() - started
        assert set(codes) == {200, 429}
        refilled = int(elapsed * RPM / 60)  # the bucket refills one request per 10 s meanwhile
        assert RPM <= codes.count(200) <= RPM + refilled, (codes, elapsed)

        # a budget with on_exhausted: refuse holds in total
        spent, cost, refused = 0.0, 0.0, None
        for i in range(30):
            r = _ask(bases[i % 3], KEYS["SPENDER_KEY"])
            if r.status_code == 200:
                cost = float(r.headers["x-tierroute-cost-usd"])
                spent += cost
            else:
                refused = r
                assert r.status_code == 429
        assert refused is not None
        error = refused.json()["error"]
        assert (error["type"], error["code"]) == ("insufficient_quota", "budget_exceeded")
        assert "spend budget of key 'spender' is used up" in error["message"] and refused.headers["retry-after"]
        # admitted while below the cap, so the last one ends above it (4 x $0.025 against $0.09); a charge
        # still on its way to Redis when the next request reaches another proxy could let one more in
        assert BUDGET_USD <= spent <= BUDGET_USD + 2 * cost, (spent, cost)
        assert spent < 2 * BUDGET_USD  # per process, each of the three would have allowed a full budget
        for base in bases:
            usage = httpx.get(base + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN}"},
                              timeout=10).json()["limits"]
            assert usage["store"] == "redis" and usage["source"] == "redis"
            spender = usage["keys"]["spender"]
            assert abs(spender["spend_usd"]["day"] - spent) < 1e-6 and spender["budget"]["exhausted"] == "day"

        # a budget with on_exhausted: downgrade sends every request to the cheapest tier once used up
        tiers = []
        for i in range(12):
            r = _ask(bases[i % 3], KEYS["THRIFTY_KEY"], model="large")
            assert r.status_code == 200
            tiers.append((r.headers["x-tierroute-tier"], r.headers["x-tierroute-reason"]))
        assert tiers[0] == ("large", "tier") and tiers[-1] == ("small", "budget")
        first_downgrade = tiers.index(("small", "budget"))
        assert all(t == ("small", "budget") for t in tiers[first_downgrade:])
        assert first_downgrade in (2, 3)  # $0.05 a request at large: $0.10 after two, above $0.09 (see above)

        # Redis gone: each proxy enforces the key's limit on its own, and nothing hangs
        private_redis.kill()
        slowest, local_codes = 0.0, []
        for i in range(3 * 6):
            t0 = time.monotonic()
            local_codes.append(_ask(bases[i % 3], KEYS["LOCAL_KEY"]).status_code)
            slowest = max(slowest, time.monotonic() - t0)
        assert slowest < 2.0, slowest
        # 4 per minute per process (three processes: up to 12), a refill at most
        assert 12 <= local_codes.count(200) <= 12 + 3, local_codes
        stats = httpx.get(bases[0] + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10).json()
        assert stats["limits"]["source"] == "local" and stats["limits"]["redis"]["errors"] >= 1
