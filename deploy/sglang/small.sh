#!/usr/bin/env bash
# SGLang launcher for tierroute's "small" tier: a 4-bit AWQ model, one GPU per replica, several
# replicas behind the proxy's prefix-cache-aware replica choice.
#
# Target image: lmsysorg/sglang:v0.5.4.post3 (flags checked against SGLang's
# docs/advanced_features/server_arguments.md and python/sglang/srt/entrypoints/http_server.py).
#
# Every value below can be overridden from the environment, so compose can run the same script for
# each replica and an operator can try another model without editing it. deploy/k8s/base/sglang-small.yaml
# spells out the same command line (tests/deploy checks that the two agree).
#
# DRY_RUN=1 prints the command (one argument per line) instead of starting the server.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
MODEL_PATH="${MODEL_PATH:-Qwen/Qwen2.5-7B-Instruct-AWQ}"
# The proxy sends the policy's `model` string to the replica and reads it back in responses and in
# /v1/models; serving under exactly that name keeps the policy, SGLang and clients in agreement.
SERVED_MODEL_NAME="${SERVED_MODEL_NAME:-$MODEL_PATH}"
HOST="${HOST:-0.0.0.0}"
PORT="${PORT:-30000}"
TP_SIZE="${TP_SIZE:-1}"
# The checkpoint is already AWQ; naming awq_marlin (instead of leaving SGLang to detect "awq")
# makes a non-Marlin-capable GPU fail loudly at start rather than silently use the slower kernel.
# Set QUANTIZATION= (empty) for an unquantized or FP8-checkpoint model.
QUANTIZATION="${QUANTIZATION-awq_marlin}"
# Must equal the tier's `context_tokens` in the policy: the proxy escalates longer prompts instead
# of sending them here, and SGLang rejects anything longer than this anyway.
CONTEXT_LENGTH="${CONTEXT_LENGTH:-32768}"
# Weights (~5.6 GB for the AWQ 7B) + KV cache pool as a share of GPU memory; the rest is left for
# activations and CUDA graphs. The KV pool size shows up as max_total_num_tokens in /get_server_info.
MEM_FRACTION_STATIC="${MEM_FRACTION_STATIC:-0.85}"
MAX_RUNNING_REQUESTS="${MAX_RUNNING_REQUESTS:-128}"
# Long prompts are prefilled in chunks so one 30k-token prompt cannot stall every running decode.
CHUNKED_PREFILL_SIZE="${CHUNKED_PREFILL_SIZE:-8192}"
LOG_LEVEL="${LOG_LEVEL:-info}"
# OpenAI-style `tools` calls: SGLang turns the model's tool-call text into `tool_calls` only with the
# parser for the model family (qwen25 for Qwen2.5). Empty disables.
TOOL_CALL_PARSER="${TOOL_CALL_PARSER-qwen25}"
# Escape hatch for flags this script does not name; split on whitespace.
EXTRA_ARGS="${EXTRA_ARGS:-}"

cmd=(
  "$PYTHON" -m sglang.launch_server
  --model-path "$MODEL_PATH"
  --served-model-name "$SERVED_MODEL_NAME"
  --host "$HOST"
  --port "$PORT"
  --tp-size "$TP_SIZE"
  --context-length "$CONTEXT_LENGTH"
  --mem-fraction-static "$MEM_FRACTION_STATIC"
  --max-running-requests "$MAX_RUNNING_REQUESTS"
  --chunked-prefill-size "$CHUNKED_PREFILL_SIZE"
  --log-level "$LOG_LEVEL"
  # Prometheus /metrics: cache hit rate, queue depth and token throughput per replica.
  --enable-metrics
  # usage.prompt_tokens_details.cached_tokens in every response: the direct measure of whether
  # the proxy's prefix affinity is landing requests where their prefix is cached.
  --enable-cache-report
)
if [[ -n "$QUANTIZATION" ]]; then
  cmd+=(--quantization "$QUANTIZATION")
fi
if [[ -n "$TOOL_CALL_PARSER" ]]; then
  cmd+=(--tool-call-parser "$TOOL_CALL_PARSER")
fi
if [[ -n "$EXTRA_ARGS" ]]; then
  read -r -a extra <<<"$EXTRA_ARGS"
  cmd+=("${extra[@]}")
fi

if [[ "${DRY_RUN:-0}" == 1 ]]; then
  printf '%s\n' "${cmd[@]}"
  exit 0
fi
# exec: SGLang becomes PID 1's direct child (or PID 1), so SIGTERM from docker/kubelet reaches it
# and it can drain (its /health turns 503 while shutting down).
exec "${cmd[@]}"
