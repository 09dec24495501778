"""The dashboard in a real headless Chromium against a real proxy on loopback.

Traffic goes through the proxy to the simulated fleet; the page is loaded, refused without a key
and with a wrong one, then given the admin key; the figures it renders (their ``data-value``,
and the text shown) must equal what ``/admin/stats`` returns. A screenshot is kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import ADMIN_KEY, CLIENT_KEY, PROVIDER_KEY, Proxy

SYSTEM = "You are a careful assistant who answers in full sentences. " * 30  # a shared prefix: cache hits
KEY_STORE = "tierroute.adminKey"


def _traffic(proxy: Proxy, prompts: list[str], stream: bool = False) -> None:
    with httpx.Client(base_url=proxy.v1, headers={"Authorization": f"Bearer {CLIENT_KEY}"}, timeout=30) as c:
        for p in prompts:
            body = {"model": "auto", "max_tokens": 8, "stream": stream,
                    "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": p}]}
            if stream:
                body["stream_options"] = {"include_usage": True}
            r = c.post("/chat/completions", json=body)
            assert r.status_code == 200, r.text


def _wait(d: Any, pred: Callable[[Any], Any], what: str, timeout: float = 20.0) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(d, timeout, poll_frequency=0.05).until(pred)
    except TimeoutException:
        raise AssertionError(f"timed out waiting for {what}; status: {_status(d)}") from None


def _status(d: Any) -> dict[str, str | None]:
    return d.execute_script("const s = document.getElementById('status');"
                            "return {state: s.dataset.state, polls: s.dataset.polls, text: s.textContent};")


def _polls(d: Any) -> int:
    return int(_status(d)["polls"] or 0)


# Read in one script run: the page replaces its rows on every poll, so a found element may go stale.
def _value(d: Any, css: str) -> str:
    found = d.execute_script("const e = document.querySelector(arguments[0]); return e && e.dataset.value;", css)
    assert found is not None, f"no {css} with a data-value"
    return found


def _text(d: Any, css: str) -> str:
    found = d.execute_script("const e = document.querySelector(arguments[0]); return e && e.innerText;", css)
    assert found is not None, f"no {css}"
    return found.strip()


def _visible(d: Any, element_id: str) -> bool:
    from selenium.webdriver.common.by import By

    return d.find_element(By.ID, element_id).is_displayed()


def _enter_key(d: Any, key: str) -> None:
    from selenium.webdriver.common.by import By

    box = d.find_element(By.ID, "admin-key")
    box.clear()
    box.send_keys(key)
    d.find_element(By.ID, "connect").click()


def _assert_refused(d: Any, polls_before: int) -> str:
    """The refusal is shown, no figure is, no key is kept; returns the refusal's text."""
    _wait(d, lambda d: _visible(d, "refusal") and _status(d)["state"] == "refused", "the refusal")
    assert not _visible(d, "dashboard")
    assert d.execute_script("return document.getElementById('total-requests').dataset.value || ''") == ""
    assert _text(d, "#total-requests") == ""
    assert d.execute_script("return document.querySelectorAll('#tiers-table tbody tr').length") == 0
    assert d.execute_script(f"return sessionStorage.getItem('{KEY_STORE}')") is None
    assert _polls(d) == polls_before
    return _text(d, "#refusal")


def _next_poll(d: Any) -> None:
    """Wait until the page has rendered a poll that started after this call."""
    start = _polls(d)
    _wait(d, lambda d: _polls(d) >= start + 2, "two more polls")


def test_dashboard_refuses_then_matches_admin_stats(make_proxy, browser, artefacts: Path) -> None:
    d = browser
    with make_proxy() as proxy:
        _traffic(proxy, ["easy one", "easy two", "medium one", "hard one"])
        d.get(proxy.url + "/admin/ui?every=1")

        # Without a key: the page loads (no secrets in it) but shows a refusal and no figures.
        text = _assert_refused(d, 0)
        assert "401" in text and "admin key" in text
        _enter_key(d, "sk-wrong-admin-key")
        assert "401" in _assert_refused(d, 0)
        _enter_key(d, "")
        assert "admin key" in _assert_refused(d, 0)

        _enter_key(d, ADMIN_KEY)
        _wait(d, lambda d: _status(d)["state"] == "live", "the first figures")
        assert ADMIN_KEY not in d.current_url and "key" not in d.current_url.split("?", 1)[-1]
        assert d.execute_script(f"return sessionStorage.getItem('{KEY_STORE}')") == ADMIN_KEY
        assert d.execute_script("return document.cookie") == ""

        for batch in (["easy three", "easy four", "medium two"], ["easy five", "hard two", "easy six"]):
            _traffic(proxy, batch, stream=True)
            _next_poll(d)  # the tier mix chart gets a bar per poll with new requests
        stats = proxy.admin("/admin/stats")
        _next_poll(d)  # the page's figures now come from a poll after the last request
        again = proxy.admin("/admin/stats")
        assert again["totals"] == stats["totals"]  # nothing moved while the page polled

        # Totals, cost and savings against the strongest tier.
        assert int(_value(d, "#total-requests")) == stats["totals"]["requests"] == 10
        assert _text(d, "#total-requests") == "10"
        assert float(_value(d, "#total-cost")) == stats["savings"]["cost_usd"]
        assert float(_value(d, "#baseline-cost")) == stats["savings"]["baseline_cost_usd"]
        saved = stats["savings"]["saved_pct"]
        assert saved is not None and float(_value(d, "#savings-pct")) == saved
        assert _text(d, "#savings-pct") == f"{saved:.1f}%"
        assert float(_value(d, "#saved-usd")) == stats["savings"]["saved_usd"]
        assert _value(d, "#strongest-tier") == "frontier"

        # Per tier: requests, cost, latency and TTFT percentiles.
        for tier, g in stats["tiers"].items():
            row = f'#tiers-table tr[data-tier="{tier}"]'
            assert int(_value(d, f'{row} td[data-field="requests"]')) == g["requests"]
            assert _text(d, f'{row} td[data-field="requests"]') == str(g["requests"])
            assert float(_value(d, f'{row} td[data-field="cost_usd"]')) == g["cost_usd"]
            for q in ("p50", "p95", "p99"):
                for field, key in (("latency", "latency_ms"), ("ttft", "ttft_ms")):
                    shown = _value(d, f'{row} td[data-field="{field}_{q}"]')
                    assert (float(shown) if shown else None) == g[key][q], (tier, field, q)
        assert {t: g["requests"] for t, g in stats["tiers"].items()} == {"small": 6, "large": 2, "frontier": 2}

        # Per replica: the proxy's cache-hit rate and SGLang's speculative acceptance.
        hits = {rid: r["cache_hit_rate"] for rid, r in stats["replicas"].items() if r.get("cache_hit_rate")}
        assert hits, stats["replicas"]  # the shared system prompt hit a prefix cache
        for rid, r in stats["replicas"].items():
            row = f'#replicas-table tr[data-replica="{rid}"]'
            shown = _value(d, f'{row} td[data-field="cache_hit_rate"]')
            assert (float(shown) if shown else None) == r["cache_hit_rate"], rid
            if r["cache_hit_rate"] is not None:
                assert _text(d, f'{row} td[data-field="cache_hit_rate"]') == f"{100 * r['cache_hit_rate']:.1f}%"
        spec = stats["replicas"]["large/0"]["sglang"]["spec_accept_length"]
        assert spec > 1 and float(_value(d, '#replicas-table tr[data-replica="large/0"] '
                                             'td[data-field="spec_accept_length"]')) == spec

        # The classifier's histogram and the current cut points.
        assert json.loads(_value(d, "#decisions")) == stats["classifier"]["decisions"] == 10
        assert json.loads(_value(d, "#routing-reasons")) == stats["routing_reasons"]
        assert _value(d, "#routing-rules") == "0" and _text(d, "#routing-rules") == "none: the score decides"
        hist = d.execute_script("return {...document.getElementById('score-histogram').dataset}")
        assert json.loads(hist["counts"]) == stats["classifier"]["score_histogram"]["counts"]
        assert json.loads(hist["cuts"]) == stats["auto_routing"]["cuts"] == [0.5, 0.8]
        drawn = d.execute_script("return [...document.querySelectorAll('#score-histogram line.cut')]"
                                 ".map(l => Number(l.dataset.cut))")
        assert drawn == stats["auto_routing"]["cuts"]
        bars = d.execute_script("return [...document.querySelectorAll('#mix-chart rect')]"
                                ".reduce((a, r) => a + Number(r.dataset.count), 0)")
        assert bars == 6  # the two batches sent while the page polled

        # Learning and policy.
        assert _value(d, "#model-version") == (stats["model"]["version"] or "")
        assert json.loads(_value(d, "#labels")) == stats["learning"]["labels"]["stored_here"]
        assert _text(d, "#policy-error") == "none"

        d.save_screenshot(str(artefacts / "dashboard.png"))

        # A broken policy file: the reload error appears, the old policy keeps serving.
        proxy.policy_path.write_text("version: 1\ntiers: [\n")
        _wait(d, lambda d: _text(d, "#policy-error") != "none", "the policy error")
        policy = proxy.admin("/admin/policy")
        assert policy["last_error"] and _value(d, "#policy-error") == policy["last_error"]
        assert "previous policy keeps serving" in _text(d, "#policy-error")

        # Forgetting the key removes it and the figures.
        d.find_element("id", "sign-out").click()
        _wait(d, lambda d: _visible(d, "login"), "the key prompt")
        assert not _visible(d, "dashboard") and _text(d, "#total-requests") == ""
        assert d.execute_script(f"return sessionStorage.getItem('{KEY_STORE}')") is None


@pytest.mark.parametrize("path", ["/admin/ui", "/admin/ui/app.js", "/admin/ui/charts.js", "/admin/ui/style.css"])
def test_the_page_is_static_and_locked_down(make_proxy, path: str) -> None:
    with make_proxy() as proxy:
        r = httpx.get(proxy.url + path, timeout=10)
    assert r.status_code == 200
    assert ADMIN_KEY not in r.text and CLIENT_KEY not in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in r.text.replace("http://www.w3.org/2000/svg", "")  # no CDN, nothing off the proxy
    assert "https://" not in r.text


def test_unknown_asset_and_trailing_slash(make_proxy) -> None:
    with make_proxy() as proxy:
        missing = httpx.get(proxy.url + "/admin/ui/index.html", timeout=10)
        other = httpx.get(proxy.url + "/admin/ui/../stats", timeout=10)
        slash = httpx.get(proxy.url + "/admin/ui/", timeout=10)
    assert missing.status_code == 404 and "Unknown path" in missing.json()["error"]["message"]
    assert other.status_code == 401  # normalised to /admin/stats: the gate, not the page
    assert slash.status_code == 308 and slash.headers["location"] == "../ui"


def test_keyless_local_proxy_needs_no_key(make_proxy, browser) -> None:
    """No client or admin key (a proxy on loopback only): the admin endpoints are open, so is the page."""
    d = browser
    with make_proxy(env={"PROVIDER_KEY": PROVIDER_KEY}) as proxy:
        _traffic(proxy, ["easy one"])
        d.get(proxy.url + "/admin/ui?every=1")
        _wait(d, lambda d: _status(d)["state"] == "live", "the figures")
        stats = proxy.admin("/admin/stats")
        assert int(_value(d, "#total-requests")) == stats["totals"]["requests"] == 1
        assert not _visible(d, "login") and not _visible(d, "sign-out")
