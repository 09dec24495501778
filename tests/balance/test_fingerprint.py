"""Prompt fingerprints: template order, chained blocks, bounds; SGLang metrics parsing."""

from __future__ import annotations

from router.balance.fingerprint import canonical_text, fingerprint
from router.balance.sglang_metrics import parse_sglang_metrics

SYS = {"role": "system", "content": "You are a support agent. " * 40}


def test_shared_prefix_shares_leading_blocks_only() -> None:
    a = fingerprint({"messages": [SYS, {"role": "user", "content": "refund?"}]}, "m", block_chars=64)
    b = fingerprint({"messages": [SYS, {"role": "user", "content": "exchange?"}]}, "m", block_chars=64)
    common = len(canonical_text({"messages": [SYS]})) // 64
    assert a[:common] == b[:common] and a[common:] != b[common:]
    assert fingerprint({"messages": [SYS]}, "other-model", block_chars=64)[0] != a[0]  # seeded with the model


def test_chain_means_a_block_stands_for_its_whole_prefix() -> None:
    x = fingerprint({"prompt": "A" * 64 + "B" * 64}, "m", block_chars=64)
    y = fingerprint({"prompt": "C" * 64 + "B" * 64}, "m", block_chars=64)
    assert x[1] != y[1]  # same second block, different prefix


def test_template_order_tools_then_messages_and_parts() -> None:
    body = {"tools": [{"type": "function", "function": {"name": "f"}}],
            "messages": [SYS, {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url"}]}]}
    text = canonical_text(body)
    assert text.startswith("<|tools|>") and text.index("<|system|>") < text.index("<|user|>hi")


def test_bounded_and_partial_last_block() -> None:
    assert len(fingerprint({"prompt": "x" * 10_000}, "m", block_chars=100, max_blocks=8)) == 8
    assert len(fingerprint({"prompt": "x" * 250}, "m", block_chars=100)) == 3
    assert fingerprint({"prompt": ""}, "m") == []


def test_parse_sglang_metrics() -> None:
    text = "\n".join([
        "# HELP sglang:num_running_reqs The number of running requests.",
        "# TYPE sglang:num_running_reqs gauge",
        'sglang:num_running_reqs{engine_type="unified",model_name="m",tp_rank="0",pp_rank="0"} 3.0',
        'sglang:num_running_reqs{engine_type="unified",model_name="m",tp_rank="1",pp_rank="0"} 3.0',
        'sglang:num_queue_reqs{model_name="m",tp_rank="0"} 2',
        'sglang:spec_accept_length{model_name="m",tp_rank="0"} 2.6',
        'sglang:prompt_tokens_total{model_name="m"} 1234',
        "other_metric 5",
    ])
    assert parse_sglang_metrics(text) == {"num_running_reqs": 3.0, "num_queue_reqs": 2.0, "spec_accept_length": 2.6}
