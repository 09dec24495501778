"""Prometheus text exposition of a simulated worker, with SGLang's metric names.

Names, types and label sets follow ``python/sglang/srt/metrics/collector.py``:
scheduler gauges (``SchedulerMetricsCollector``) carry the labels ``model_name``,
``engine_type``, ``tp_rank``, ``pp_rank`` and ``moe_ep_rank``; the tokenizer-side counters and
histograms (``TokenizerMetricsCollector``) carry ``model_name``. As with ``prometheus_client``,
a counter's ``# TYPE`` line names the family without ``_total`` and its sample adds it.
``sglang:spec_accept_length`` / ``sglang:spec_accept_rate`` are exported by every worker as in
SGLang (0 without speculative decoding). Format: text/plain version 0.0.4.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .engine import Histogram, SimEngine

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SPEC_NUM_DRAFT_TOKENS = 4  # SGLang's usual EAGLE setting (--speculative-num-draft-tokens)

Labels = Mapping[str, str]


def render(engine: SimEngine) -> bytes:
    cfg = engine.cfg
    sched: Labels = {"model_name": cfg.model, "engine_type": "unified", "tp_rank": "0", "pp_rank": "0",
                     "moe_ep_rank": "0"}
    tok: Labels = {"model_name": cfg.model}
    t = engine.totals
    accept_len = cfg.spec_accept_length if cfg.speculative else 0.0
    accept_rate = min(1.0, (accept_len - 1) / (SPEC_NUM_DRAFT_TOKENS - 1)) if cfg.speculative else 0.0
    out: list[str] = []
    gauges = (
        ("num_running_reqs", "The number of running requests.", engine.slots.running),
        ("num_used_tokens", "The number of used tokens.", engine.num_used_tokens),
        ("token_usage", "The token usage.", engine.token_usage),
        ("gen_throughput", "The generation throughput (token/s).", engine.gen_throughput()),
        ("num_queue_reqs", "The number of requests in the waiting queue.", engine.slots.queued),
        ("num_grammar_queue_reqs", "The number of requests in the grammar waiting queue.", 0),
        ("cache_hit_rate", "The prefix cache hit rate.", engine.cache_hit_rate),
        ("max_total_num_tokens", "Maximum total number of tokens in the KV cache pool.", cfg.max_total_tokens),
        ("spec_accept_length", "The average acceptance length of speculative decoding.", accept_len),
        ("spec_accept_rate", "The average acceptance rate of speculative decoding "
                             "(`accepted tokens / total draft tokens` in batch).", accept_rate),
    )
    for name, help_text, value in gauges:
        _family(out, f"sglang:{name}", "gauge", help_text, [(sched, value)])
    _histogram(out, "sglang:queue_time_seconds", "Histogram of queueing time in seconds.", sched, t.queue)
    counters = (
        ("prompt_tokens", "Number of prefill tokens processed.", t.prompt_tokens),
        ("generation_tokens", "Number of generation tokens processed.", t.completion_tokens),
        ("cached_tokens", "Number of cached prompt tokens.", t.cached_tokens),
        ("num_requests", "Number of requests processed.", t.finished),
        ("num_aborted_requests", "Number of requests aborted.", t.aborted),
    )
    for name, help_text, value in counters:
        _family(out, f"sglang:{name}", "counter", help_text, [(tok, value)], suffix="_total")
    _histogram(out, "sglang:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
               tok, t.ttft)
    _histogram(out, "sglang:e2e_request_latency_seconds", "Histogram of End-to-end request latency in seconds",
               tok, t.e2e)
    return "".join(out).encode()


def _family(out: list[str], name: str, kind: str, help_text: str,
            samples: Iterable[tuple[Labels, float]], suffix: str = "") -> None:
    out.append(f"# HELP {name}{suffix} {_escape_help(help_text)}\n# TYPE {name} {kind}\n")
    for labels, value in samples:
        out.append(f"{name}{suffix}{_labels(labels)} {_num(value)}\n")


def _histogram(out: list[str], name: str, help_text: str, labels: Labels, h: Histogram) -> None:
    out.append(f"# HELP {name} {_escape_help(help_text)}\n# TYPE {name} histogram\n")
    for bound, cum in zip(h.bounds, h.cumulative(), strict=True):
        out.append(f"{name}_bucket{_labels({**labels, 'le': _num(bound)})} {_num(cum)}\n")
    out.append(f"{name}_bucket{_labels({**labels, 'le': '+Inf'})} {_num(h.count)}\n")
    out.append(f"{name}_count{_labels(labels)} {_num(h.count)}\n")
    out.append(f"{name}_sum{_labels(labels)} {_num(h.sum)}\n")


def _labels(labels: Labels) -> str:
    inner = ",".join(f'{k}="{_escape_value(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape_value(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n")


def _num(v: float) -> str:
    return repr(float(v))
