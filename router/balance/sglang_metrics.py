"""The few SGLang ``/metrics`` gauges replica choice uses, parsed from Prometheus' text format.

Kept (names without the ``sglang:`` prefix): ``num_running_reqs``, ``num_queue_reqs``,
``token_usage``, ``cache_hit_rate``, ``gen_throughput`` and ``spec_accept_length``. SGLang
labels each sample with its tensor/pipeline/data-parallel rank; samples of tensor rank 0 (or
unlabelled ones) are summed, so data-parallel ranks add up and tensor-parallel copies count
once.
"""

from __future__ import annotations

import re

WANTED = frozenset({"num_running_reqs", "num_queue_reqs", "token_usage", "cache_hit_rate", "gen_throughput",
                    "spec_accept_length"})
_SAMPLE = re.compile(r'^sglang:(\w+)(\{[^}]*\})?\s+(\S+)')
_TP = re.compile(r'tp_rank="(\d+)"')


def parse_sglang_metrics(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("sglang:"):
            continue
        m = _SAMPLE.match(line)
        if m is None or m.group(1) not in WANTED:
            continue
        tp = _TP.search(m.group(2) or "")
        if tp is not None and tp.group(1) != "0":
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out[m.group(1)] = out.get(m.group(1), 0.0) + value
    return out
