"""``tierroute demo``: the whole system on one machine, with simulated GPUs.

Starts two simulated SGLang workers for a small quantized tier, one speculative worker for a
large tier, a fake external provider reached through litellm for a frontier tier, and the
proxy with an embedded policy; sends mixed chat traffic through the official ``openai`` SDK;
prints what it cost per tier against sending everything to the strongest tier. Every child
process is stopped on the way out, whatever happens.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from router.procs import ProcessGroup, free_port, tierroute_cmd

from .demo_traffic import FORECAST_RESULT, DemoRequest, FeatureCheck, build_traffic, feature_checks

CLIENT_KEY = "sk-demo-client"
ADMIN_KEY = "sk-demo-admin"
PROVIDER_KEY = "sk-demo-provider"
JUDGE_KEY = "sk-demo-judge"
LEARN_AFTER = 60  # the learner retrains once this many labels arrived

POLICY = """\
version: 1
tiers:
  - name: small
    description: simulated 7B AWQ model, two replicas
    context_tokens: 32768
    price: {{input_per_mtok: 0.04, output_per_mtok: 0.12}}
    backends:
      - kind: sglang
        model: Qwen/Qwen2.5-7B-Instruct-AWQ
        replicas: [http://127.0.0.1:{small0}, http://127.0.0.1:{small1}]
  - name: large
    description: simulated 70B model with speculative decoding
    context_tokens: 131072
    price: {{input_per_mtok: 0.35, output_per_mtok: 0.90}}
    backends:
      - kind: sglang
        model: meta-llama/Llama-3.3-70B-Instruct
        speculative: true
        replicas: [http://127.0.0.1:{large0}]
  - name: frontier
    description: fake Anthropic endpoint reached through litellm
    context_tokens: 200000
    backends:
      - kind: litellm
        model: anthropic/claude-sonnet-4-20250514
        api_base: http://127.0.0.1:{provider}
        api_key_env: DEMO_PROVIDER_KEY
        price: {{input_per_mtok: 3.00, output_per_mtok: 15.00}}
routing:
  auto:
    - {{tier: small, share: {share0}}}
    - {{tier: large, share: {share1}}}
    - {{tier: frontier, share: {share2}}}
  min_samples: 16
health: {{interval_s: 2, timeout_s: 1}}
learning:
  labels: {{path: {labels}}}
  shadow:
    enabled: true
    rate: 0.5
    explore_rate: 0.5
    daily_usd_cap: 5
    judge:
      model: openai/sim-judge
      api_base: http://127.0.0.1:{judge}/v1
      api_key_env: DEMO_JUDGE_KEY
      price: {{input_per_mtok: 2.50, output_per_mtok: 10.00}}
"""
# Target shares per tier (RouteLLM-style: a share of strong calls is chosen, not a threshold
# guessed). The cut points follow the scores of this traffic once 16 were seen (the model's
# reference quantiles before), so they keep their shares when the learner's model is swapped in.
SHARES = (0.55, 0.30, 0.15)


def run_demo(*, requests: int = 200, concurrency: int = 8, seed: int = 0) -> int:
    work = Path(tempfile.mkdtemp(prefix="tierroute-demo-"))
    ports = {name: free_port() for name in ("small0", "small1", "large0", "provider", "judge", "proxy")}
    labels, models = work / "labels.jsonl", work / "models"
    policy = work / "policy.yaml"
    base = f"http://127.0.0.1:{ports['proxy']}"
    traffic = build_traffic(requests, seed)
    print(f"tierroute demo: starting 3 simulated SGLang workers, a fake provider, a simulated judge, the learner "
          f"sidecar and the proxy (logs in {work}: kept if something fails)")
    ok = False
    try:
        status = _run(work, ports, labels, models, policy, base, traffic, concurrency)
        ok = status == 0
        return status
    finally:
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs of every process kept in {work}")


def _run(work: Path, ports: dict[str, int], labels: Path, models: Path, policy: Path, base: str,
         traffic: list[DemoRequest], concurrency: int) -> int:
    with ProcessGroup(work) as procs:
        small = ["--model", "Qwen/Qwen2.5-7B-Instruct-AWQ", "--ttft-ms", "15", "--decode-tps", "400",
                 "--prefill-tps", "20000", "--max-total-tokens", "60000"]
        large = ["--model", "meta-llama/Llama-3.3-70B-Instruct", "--ttft-ms", "40", "--decode-tps", "150",
                 "--prefill-tps", "6000", "--speculative", "--spec-accept-length", "2.6"]
        procs.start("small0", tierroute_cmd("sim-worker", "--port", str(ports["small0"]), *small))
        procs.start("small1", tierroute_cmd("sim-worker", "--port", str(ports["small1"]), *small))
        procs.start("large0", tierroute_cmd("sim-worker", "--port", str(ports["large0"]), *large))
        procs.start("provider", tierroute_cmd("fake-provider", "--port", str(ports["provider"]),
                                              "--api-key", PROVIDER_KEY, "--latency-ms", "60"))
        procs.start("judge", tierroute_cmd("sim-judge", "--port", str(ports["judge"])))
        procs.start("learn", tierroute_cmd("learn", "--models-dir", str(models), "--labels", str(labels),
                                           "--min-new-labels", str(LEARN_AFTER), "--interval", "1",
                                           "--min-holdout", "20", "--holdout", "0.25"))
        policy.write_text(POLICY.format(**ports, share0=SHARES[0], share1=SHARES[1], share2=SHARES[2],
                                        labels=json.dumps(str(labels))))
        print(f"routing {', '.join(f'{s:.0%}' for s in SHARES)} of auto traffic to small, large, frontier")
        for name in ("small0", "small1", "large0", "judge"):
            procs.wait_http(name, f"http://127.0.0.1:{ports[name]}/health")
        procs.wait_until(lambda: (models / "CURRENT").exists(), 120,
                         "the learner to register the shipped model", "learn")
        procs.start("proxy", tierroute_cmd("serve", "--policy", str(policy), "--port", str(ports["proxy"]),
                                           "--models-dir", str(models), "--log-level", "warning"),
                    env={"TIERROUTE_API_KEYS": CLIENT_KEY, "TIERROUTE_ADMIN_KEY": ADMIN_KEY,
                         "DEMO_PROVIDER_KEY": PROVIDER_KEY, "DEMO_JUDGE_KEY": JUDGE_KEY})
        procs.wait_http("proxy", base + "/ready", timeout=180)
        print(f"sending {len(traffic)} chat requests ({sum(r.stream for r in traffic)} streamed) through "
              f"{base}/v1 with the openai SDK, {concurrency} at a time ...")
        t0 = time.perf_counter()
        results = asyncio.run(_send_all(base + "/v1", traffic, concurrency))
        elapsed = time.perf_counter() - t0
        print("learning phase: shadow comparisons judged in the background, then the learner retrains ...")
        rounds = learning_phase(procs, base, models)
        stats = httpx.get(base + "/admin/stats", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10).json()
        policy_doc = httpx.get(base + "/admin/policy", headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                               timeout=10).json()
        tiers = [t["name"] for t in policy_doc["policy"]["tiers"]]
        checks = asyncio.run(_check_features(base + "/v1", tiers))  # after the stats: not in the table
    failures = [r for r in results if isinstance(r, BaseException)]
    print(render_report(stats, policy_doc["policy"], elapsed, len(results), failures))
    print(render_learning(stats, rounds, len(results)))
    print(render_features(checks, tiers))
    return 1 if failures or any(problem for _, _, problem in checks) else 0


def learning_phase(procs: ProcessGroup, base: str, models: Path, timeout: float = 180.0) -> list[dict[str, Any]]:
    """Wait until every shadow job is judged, then for the learner's round on those labels and the
    proxy to serve the promoted model (if one was). Returns the learner's rounds."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def learning() -> dict[str, Any]:
        return httpx.get(base + "/admin/stats", headers=admin, timeout=10).json().get("learning") or {}

    procs.wait_until(lambda: learning()["shadow"]["pending"] == 0, timeout, "the shadow comparisons", "proxy")
    labels = sum(learning()["labels"]["stored_here"].values())

    def rounds() -> list[dict[str, Any]]:
        path = models / "history.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [e for e in map(json.loads, lines) if e.get("event") in ("promote", "refuse")]

    if labels >= LEARN_AFTER:  # the learner trains whenever LEARN_AFTER new labels arrived
        procs.wait_until(lambda: labels - max((r.get("labels", 0) for r in rounds()), default=0) < LEARN_AFTER,
                         timeout, "the learner", "learn")
        current = (models / "CURRENT").read_text().strip()
        procs.wait_until(lambda: httpx.get(base + "/admin/stats", headers=admin, timeout=10).json()["model"]["version"]
                         == current, 30, "the proxy to serve the promoted model", "proxy")
    return rounds()


def render_learning(stats: dict[str, Any], rounds: list[dict[str, Any]], requests: int) -> str:
    """The learning lines of the demo's summary (pure: /admin/stats and the learner's rounds)."""
    lr = stats.get("learning") or {}
    if not lr:
        return ""
    by_source = lr["labels"]["stored_here"]
    spend = lr["shadow"]["spend_usd"]
    per_1k = 1000 * spend["total"] / requests if requests else 0.0
    lines = [f"\nLearning: {sum(by_source.values())} labels ({', '.join(f'{k} {v}' for k, v in by_source.items())}); "
             f"shadow + judge spend ${spend['total']:.5f} (${per_1k:.4f} per 1,000 requests), not billed to clients",
             f"Quality retained: {lr.get('summary') or 'no judged comparisons yet'}"]
    for r in rounds:
        verdict = "promoted" if r["event"] == "promote" else "kept the champion"
        lines.append(f"Learner round on {r['labels']} labels ({r['holdout_labels']} newest held out): challenger "
                     f"{r['version']} APGR {r['challenger_apgr']:.3f} vs champion {r['champion']} "
                     f"{r['champion_apgr']:.3f} -> {verdict}")
    lines.append(f"Model serving now: {stats['model']['version']} ({stats['model']['swaps']} live swaps)")
    return "\n".join(lines)


async def _send_all(base_url: str, traffic: list[DemoRequest], concurrency: int) -> list[Any]:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=CLIENT_KEY, max_retries=0, timeout=60)
    gate = asyncio.Semaphore(concurrency)

    async def one(req: DemoRequest) -> str:
        async with gate:
            if req.stream:
                stream = await client.chat.completions.create(  # type: ignore[call-overload]
                    model="auto", messages=req.messages, max_tokens=req.max_tokens, stream=True,
                    stream_options={"include_usage": True})
                model = ""
                async for chunk in stream:
                    model = chunk.model or model
                return model
            resp = await client.chat.completions.create(model="auto", messages=req.messages,  # type: ignore[arg-type]
                                                        max_tokens=req.max_tokens)
            return resp.model

    try:
        return await asyncio.gather(*(one(r) for r in traffic), return_exceptions=True)
    finally:
        await client.close()


async def _check_features(base_url: str, tiers: list[str]) -> list[tuple[str, str, str | None]]:
    """Every feature check sent to every tier (``model`` = the tier's name): (tier, check, problem or None)."""
    import jsonschema
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=CLIENT_KEY, max_retries=0, timeout=60)
    out: list[tuple[str, str, str | None]] = []
    try:
        for tier in tiers:
            for check in feature_checks():
                try:
                    problem = _judge(check, *await _ask(client, tier, check.body))
                except (openai.OpenAIError, ValueError, jsonschema.ValidationError) as e:
                    problem = f"{type(e).__name__}: {str(e)[:160]}"
                out.append((tier, check.name, problem))
    finally:
        await client.close()
    return out


async def _ask(client: Any, tier: str, body: dict[str, Any]) -> tuple[str | None, str, str | None]:
    """(finish_reason, content, the first tool call's arguments) of one chat request."""
    if not body.get("stream"):
        resp = await client.chat.completions.create(model=tier, **body)
        choice = resp.choices[0]
        calls = choice.message.tool_calls
        return choice.finish_reason, choice.message.content or "", calls[0].function.arguments if calls else None
    finish, content, args = None, "", None
    async for chunk in await client.chat.completions.create(model=tier, **body):
        if chunk.choices:
            delta = chunk.choices[0].delta
            content += delta.content or ""
            for call in delta.tool_calls or ():
                args = (args or "") + (call.function.arguments or "" if call.function else "")
            finish = chunk.choices[0].finish_reason or finish
    return finish, content, args


def _judge(check: FeatureCheck, finish: str | None, content: str, args: str | None) -> str | None:
    """None when the answer is what ``check`` expects, else what is wrong (raises on invalid JSON)."""
    import jsonschema

    if check.expect == "tool_call":
        if finish != "tool_calls" or args is None:
            return f"finish_reason {finish!r}, no tool call"
        jsonschema.validate(json.loads(args), check.schema)
    elif check.expect == "quotes_result":
        if finish != "stop" or FORECAST_RESULT not in content:
            return f"finish_reason {finish!r}, the answer does not quote the tool's result"
    else:
        jsonschema.validate(json.loads(content), check.schema)
    return None


def render_features(checks: list[tuple[str, str, str | None]], tiers: list[str]) -> str:
    """The summary line of the tools and structured-output round (pure)."""
    names = list(dict.fromkeys(name for _, name, _ in checks))
    per_tier = [f"{tier} {sum(1 for t, _, p in checks if t == tier and p is None)}/"
                f"{sum(1 for t, _, _ in checks if t == tier)}" for tier in tiers]
    lines = [f"\nTools and structured output ({', '.join(names)}; model = each tier): {', '.join(per_tier)}"]
    lines += [f"  {tier} / {name}: {problem}" for tier, name, problem in checks if problem]
    return "\n".join(lines)


def render_report(stats: dict[str, Any], policy: dict[str, Any], elapsed: float, sent: int,
                  failures: list[BaseException]) -> str:
    """The per-tier table the demo prints (pure: built from /admin/stats and /admin/policy)."""
    lines = [f"\n{sent} requests in {elapsed:.1f} s, {len(failures)} failed\n"]
    head = (f"{'tier':<9} {'model':<36} {'requests':>8} {'in tok':>8} {'out tok':>8} {'cost $':>10} "
            f"{'p50 ms':>7} {'p95 ms':>7} {'cache hit':>9}")
    lines += [head, "-" * len(head)]
    for tier in policy["tiers"]:
        g = stats["tiers"].get(tier["name"])
        model = tier["backends"][0]["model"]
        if g is None:
            lines.append(f"{tier['name']:<9} {model:<36} {0:>8}")
            continue
        hit = g["cache_hit_rate"]
        lines.append(f"{tier['name']:<9} {model:<36} {g['requests']:>8} {g['input_tokens']:>8} {g['output_tokens']:>8} "
                     f"{g['cost_usd']:>10.5f} {_num(g['latency_ms']['p50']):>7} {_num(g['latency_ms']['p95']):>7} "
                     f"{(f'{100 * hit:.1f}%' if hit is not None else '-'):>9}")
    t = stats["totals"]
    lines.append("-" * len(head))
    hit = t["cache_hit_rate"]
    lines.append(f"{'total':<9} {'':<36} {t['requests']:>8} {t['input_tokens']:>8} {t['output_tokens']:>8} "
                 f"{t['cost_usd']:>10.5f} {'':>7} {'':>7} {(f'{100 * hit:.1f}%' if hit is not None else '-'):>9}")
    s = stats["savings"]
    pct = f"{s['saved_pct']:.1f}%" if s["saved_pct"] is not None else "-"
    lines.append(f"\nSaving against {s['baseline']}: ${s['saved_usd']:.5f} of ${s['baseline_cost_usd']:.5f} ({pct})")
    c = stats["classifier"]
    by_tier = [f"{t['name']} {c['by_tier'][t['name']]}" for t in policy["tiers"] if t["name"] in c["by_tier"]]
    reasons = sorted(stats["routing_reasons"].items(), key=lambda kv: (-kv[1], kv[0]))  # same order every run
    lines.append(f"Classifier decisions: {c['decisions']} ({', '.join(by_tier)}); "
                 f"routing reasons: {', '.join(f'{k} {v}' for k, v in reasons)}")
    if failures:
        lines.append(f"First failure: {failures[0]!r}")
    return "\n".join(lines)


def _num(v: float | None) -> str:
    return f"{v:.0f}" if v is not None else "-"
