"""`tierroute schema` and `tierroute stats` (issue 13, point 3)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import jsonschema
import yaml

from router.ops_cli import policy_schema, render_stats
from tests.integration.conftest import ADMIN_KEY, CLIENT_KEY, Cluster, cluster, make_proxy  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_schema_is_current_and_the_example_points_to_it() -> None:
    shipped = json.loads((ROOT / "docs" / "policies.schema.json").read_text())
    assert shipped == json.loads(json.dumps(policy_schema())), "run: tierroute schema > docs/policies.schema.json"
    text = (ROOT / "policies.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=docs/policies.schema.json"
    jsonschema.validate(yaml.safe_load(text), shipped)  # the example is valid against it
    bad = yaml.safe_load(text)
    bad["tiers"][0]["context_tokens"] = "lots"
    try:
        jsonschema.validate(bad, shipped)
        raise AssertionError("the schema accepted a string context_tokens")
    except jsonschema.ValidationError:
        pass


def test_stats_prints_tables_that_match_the_document(make_proxy) -> None:  # noqa: F811
    with make_proxy() as proxy:
        for model in ("small", "small", "frontier"):
            httpx.post(proxy.v1 + "/chat/completions", headers={"Authorization": f"Bearer {CLIENT_KEY}"}, timeout=30,
                       json={"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
        doc = proxy.admin("/admin/stats")
        text = render_stats(doc)
        small = next(line for line in text.splitlines() if line.startswith("small "))
        assert small.split()[1] == "2" and f"{doc['tiers']['small']['cost_usd']:.6f}" in small
        assert "small/0" in text and f"({doc['savings']['saved_pct']:.1f}%)" in text
        done = subprocess.run([sys.executable, "-m", "router", "stats", proxy.url, "--admin-key", ADMIN_KEY],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "frontier" in done.stdout and "saved $" in done.stdout, done.stderr
        refused = subprocess.run([sys.executable, "-m", "router", "stats", proxy.url, "--admin-key", "wrong"],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "401" in refused.stdout


def test_route_explains_score_tier_and_rule() -> None:
    from classifiers.logreg import load_classifier

    prompt = "Prove that the square root of 2 is irrational, step by step."
    done = subprocess.run([sys.executable, "-m", "router", "route", prompt, "--policy", str(ROOT / "policies.yaml"),
                           "--explain", "--top", "4"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    score = float(load_classifier().score([prompt])[0])
    assert lines[0].startswith(f"score {score:.4f} -> tier ")
    assert lines[1].startswith("rule: routing.auto[") and "cut points from policy" in lines[1]
    parts = [line for line in lines if line.startswith("  ")]
    assert len(parts) == 4 and all(p.strip()[0] in "+-" for p in parts)


def test_route_names_the_task_rule_that_decided(tmp_path: Path) -> None:
    policy = yaml.safe_load((ROOT / "policies.yaml").read_text())
    policy["routing"]["rules"] = [{"name": "code", "when": {"task": "code"}, "tier": "large"}]
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(policy))
    done = subprocess.run([sys.executable, "-m", "router", "route", "Write a python function to reverse a list",
                           "--policy", str(path), "--explain"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rule: routing.rules[0] 'code' when {'task': 'code'} -> tier large")
