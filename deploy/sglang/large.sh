#!/usr/bin/env bash
# SGLang launcher for tierroute's "large" tier: Llama-3.3-70B-Instruct in BF16 over 4 GPUs (tensor
# parallel), with EAGLE-3 speculative decoding.
#
# Target image: lmsysorg/sglang:v0.5.4.post3 (flags checked against SGLang's
# docs/advanced_features/server_arguments.md and docs/advanced_features/speculative_decoding.md).
#
# Every value below can be overridden from the environment. deploy/k8s/base/sglang-large.yaml spells out
# the same command line (tests/deploy checks that the two agree).
#
# DRY_RUN=1 prints the command (one argument per line) instead of starting the server.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
MODEL_PATH="${MODEL_PATH:-meta-llama/Llama-3.3-70B-Instruct}"
# The proxy sends the policy's `model` string; serving under exactly that name keeps the policy,
# SGLang's responses and /v1/models in agreement.
SERVED_MODEL_NAME="${SERVED_MODEL_NAME:-$MODEL_PATH}"
HOST="${HOST:-0.0.0.0}"
PORT="${PORT:-30000}"
# 70B in BF16 is ~141 GB of weights: 4 x 80 GB leaves ~30 GB per GPU for the KV cache.
TP_SIZE="${TP_SIZE:-4}"
# Empty = take the checkpoint's own format. For an FP8 checkpoint nothing is needed either; set fp8
# here only to quantize a BF16 checkpoint at load time (halves weight memory, e.g. to fit TP 2).
QUANTIZATION="${QUANTIZATION-}"
# Must equal the tier's `context_tokens` in the policy.
CONTEXT_LENGTH="${CONTEXT_LENGTH:-131072}"
# Lower than the small tier's: the draft model, its KV cache and the verify step's larger CUDA
# graphs need headroom outside the static pool (SGLang's own EAGLE examples use 0.7-0.8).
MEM_FRACTION_STATIC="${MEM_FRACTION_STATIC:-0.80}"
MAX_RUNNING_REQUESTS="${MAX_RUNNING_REQUESTS:-64}"
CHUNKED_PREFILL_SIZE="${CHUNKED_PREFILL_SIZE:-8192}"
# Decode batches up to this size replay captured CUDA graphs; larger ones run eagerly (slower).
# Kept equal to MAX_RUNNING_REQUESTS so a full batch never falls off the graph path.
CUDA_GRAPH_MAX_BS="${CUDA_GRAPH_MAX_BS:-64}"
LOG_LEVEL="${LOG_LEVEL:-info}"
# OpenAI-style `tools` calls: SGLang turns the model's tool-call text into `tool_calls` only with the
# parser for the model family (llama3 for Llama 3.x). Empty disables.
TOOL_CALL_PARSER="${TOOL_CALL_PARSER-llama3}"

# Speculative decoding. The draft must be trained for exactly this target model: an EAGLE head
# reads the target's hidden states, so a head for another model (or another Llama revision) loads
# but accepts almost nothing. This head is the SGLang team's (lmsys) SGLang-format copy of the
# EAGLE-3 head for Llama-3.3-70B-Instruct (used with SGLang in sgl-project/sglang#6783; the
# upstream original, yuhuili/EAGLE3-LLaMA3.3-Instruct-70B, was used in sgl-project/sglang#4716).
# Empty disables speculation (then drop `speculative: true` from the policy's backend too).
SPECULATIVE_ALGORITHM="${SPECULATIVE_ALGORITHM-EAGLE3}"
DRAFT_MODEL_PATH="${DRAFT_MODEL_PATH:-lmsys/sglang-EAGLE3-LLaMA3.3-Instruct-70B}"
# A chain (topk 1) of 3 drafted tokens, 4 verified per step: this tier serves concurrent traffic,
# where wide draft trees (topk 4-8, 16-64 draft tokens) cost more verify compute than they win back;
# topk 1 is also what SGLang's overlap scheduler for speculation (SGLANG_ENABLE_SPEC_V2) requires.
# For single-user latency try 5 / 4 / 8. SGLang wants all three set together or none.
SPECULATIVE_NUM_STEPS="${SPECULATIVE_NUM_STEPS:-3}"
SPECULATIVE_EAGLE_TOPK="${SPECULATIVE_EAGLE_TOPK:-1}"
SPECULATIVE_NUM_DRAFT_TOKENS="${SPECULATIVE_NUM_DRAFT_TOKENS:-4}"
# The EAGLE-3 head's config declares max_position_embeddings=2048, shorter than the target's 128k;
# SGLang refuses to start a model with a context length beyond its config unless this is set.
# (Acceptance drops for prompts far beyond the head's training length: sgl-project/sglang#6783.)
export SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN="${SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN:-1}"
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
  --cuda-graph-max-bs "$CUDA_GRAPH_MAX_BS"
  --log-level "$LOG_LEVEL"
  --enable-metrics
  # cached_tokens in usage: whether prefix affinity pays off on this tier too.
  --enable-cache-report
)
if [[ -n "$SPECULATIVE_ALGORITHM" ]]; then
  cmd+=(
    --speculative-algorithm "$SPECULATIVE_ALGORITHM"
    --speculative-draft-model-path "$DRAFT_MODEL_PATH"
    --speculative-num-steps "$SPECULATIVE_NUM_STEPS"
    --speculative-eagle-topk "$SPECULATIVE_EAGLE_TOPK"
    --speculative-num-draft-tokens "$SPECULATIVE_NUM_DRAFT_TOKENS"
  )
fi
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
# exec so SIGTERM from docker/kubelet reaches SGLang directly and it can drain.
exec "${cmd[@]}"
