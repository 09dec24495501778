"""Workloads and the oracle of the cache-affinity benchmark (pure functions, no I/O).

Two workloads, both deterministic for a seed:

* **generated shared prefix** (the shape of SGLang's ``bench_serving --dataset-name
  generated-shared-prefix``): ``groups`` system prompts of ``system_tokens`` tokens, each shared
  by ``per_group`` requests that add a distinct question of ``question_tokens`` tokens; all
  requests shuffled together and sent concurrently.
* **multi-turn chats that grow**: ``conversations`` chats of ``turns`` turns. Every chat starts
  with one short system prompt shared by all chats and a first user message (a document of
  ``first_tokens`` tokens plus a question); turn *n + 1* sends the messages of turn *n*, the
  assistant's answer to it and a new question of ``question_tokens`` tokens. Turns of different
  chats interleave: the planned order is a random merge of the chats (each step takes the next
  turn of a chat drawn at random), so chats start and progress at different times; a turn is
  sent once its predecessor has been answered. The answers are those the simulated worker gives
  (:func:`fleet.sim.reply.make_reply` is a function of the prompt's token ids and the worker's
  seed and output-length range), so every turn's messages are known in advance and the
  benchmark can check each live answer against the prediction.

Text is drawn word by word from the simulator's reply vocabulary: every word of at most 8
letters with its leading space is one token of the sim tokenizer, so ``N`` words are about
``N`` tokens.

The **oracle** (:func:`oracle`) is a clairvoyant router with capacity accounting: it knows
every request in advance, keeps each prefix group / conversation (the request's ``key``) on one
replica, spreading keys over the replicas so that request counts (then prompt tokens) are as
even as possible (largest first, onto the replica with the fewest so far), and runs, per
replica, the simulator's own radix cache (:class:`fleet.sim.radix.RadixCache`, LRU, the
worker's ``max_total_tokens``) over that replica's requests one at a time, in the planned
order (which the benchmark's client follows; it deviates only where a turn waits for its
predecessor's answer): match the prompt less its last token (as SGLang and the sim do), then insert prompt +
answer. Its hit rate is what ideal placement reaches with the workers' real cache size and
no concurrency (no request arrives while the request that would seed its prefix is still in
prefill). :func:`upper_bound` is the workload's shared-prefix structure alone: one cache of
unlimited size seeing every request in order.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleet.sim.radix import RadixCache
from fleet.sim.reply import WORDS, make_reply
from fleet.sim.tokenize import Tokenizer

GSP = "generated_shared_prefix"
MULTI_TURN = "multi_turn"
SHARED_SYSTEM = ("You are a helpful assistant. Answer the user's questions about the document they gave you, "
                 "briefly and precisely, and say so when the document does not tell.")


@dataclass(frozen=True)
class SimParams:
    """What the simulated workers are started with that decides their answers and latency."""

    seed: int = 0
    min_output_tokens: int = 8
    max_output_tokens: int = 32
    ttft_ms: float = 15.0
    prefill_tps: float = 15_000.0


@dataclass
class Request:
    rid: str
    key: str  # the prefix group or conversation
    messages: list[dict[str, str]]
    max_tokens: int
    after: str | None = None  # the request that must have finished first (the previous turn)
    expect: str | None = None  # the answer the simulated worker gives (multi-turn)

    def body(self, model: str) -> dict[str, Any]:
        return {"model": model, "messages": self.messages, "max_tokens": self.max_tokens, "temperature": 0,
                "stream": True, "stream_options": {"include_usage": True}}


@dataclass
class Workload:
    name: str
    requests: list[Request]  # the planned order (what the oracle replays)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        return list(dict.fromkeys(r.key for r in self.requests))


def words(rng: random.Random, n: int) -> str:
    """About ``n`` sim tokens of word salad (``n`` one-token words, a full stop every 8-20)."""
    out: list[str] = []
    until = rng.randint(8, 20)
    for i in range(n):
        w = WORDS[rng.randrange(len(WORDS))]
        out.append(w.capitalize() if i == 0 or out[-1].endswith(".") else w)
        until -= 1
        if until == 0 and i < n - 1:
            out[-1] += "."
            until = rng.randint(8, 20)
    return " ".join(out) + "."


def generated_shared_prefix(*, groups: int, per_group: int, system_tokens: int, question_tokens: int,
                            max_tokens: int, seed: int = 0) -> Workload:
    rng = random.Random(f"gsp-{seed}")
    reqs: list[Request] = []
    for g in range(groups):
        system = f"[group {g}] " + words(rng, system_tokens)
        for q in range(per_group):
            question = f"Question {q} about group {g}: " + words(rng, question_tokens)
            reqs.append(Request(f"g{g:03d}-q{q:03d}", f"g{g:03d}",
                                [{"role": "system", "content": system}, {"role": "user", "content": question}],
                                max_tokens))
    rng.shuffle(reqs)
    return Workload(GSP, reqs, {"groups": groups, "per_group": per_group, "system_tokens": system_tokens,
                                "question_tokens": question_tokens, "max_tokens": max_tokens, "seed": seed})


def multi_turn(*, conversations: int, turns: int, first_tokens: int, question_tokens: int, max_tokens: int,
               sim: SimParams, seed: int = 0, tokenizer: Tokenizer | None = None) -> Workload:
    tok = tokenizer or Tokenizer()
    rng = random.Random(f"mt-{seed}")
    chats: list[list[Request]] = []
    for c in range(conversations):
        messages = [{"role": "system", "content": SHARED_SYSTEM},
                    {"role": "user", "content": f"Document {c}: " + words(rng, first_tokens) + "\n\nQuestion: "
                     + words(rng, question_tokens)}]
        chat: list[Request] = []
        for t in range(turns):
            if t:
                messages = [*messages, {"role": "assistant", "content": chat[-1].expect or ""},
                            {"role": "user", "content": f"Follow-up {t}: " + words(rng, question_tokens)}]
            reply = make_reply(tok, tok.chat_prompt_ids(messages), max_tokens=max_tokens, seed=sim.seed,
                               min_len=sim.min_output_tokens, max_len=sim.max_output_tokens)
            chat.append(Request(f"c{c:03d}-t{t:02d}", f"c{c:03d}", list(messages), max_tokens,
                                after=chat[-1].rid if chat else None, expect=reply.text))
        chats.append(chat)
    planned: list[Request] = []  # a random merge of the chats: each step, a random chat's next turn
    nxt = [0] * conversations
    open_chats = list(range(conversations))
    while open_chats:
        c = open_chats[rng.randrange(len(open_chats))]
        planned.append(chats[c][nxt[c]])
        nxt[c] += 1
        if nxt[c] == turns:
            open_chats.remove(c)
    return Workload(MULTI_TURN, planned, {"conversations": conversations, "turns": turns,
                                          "first_tokens": first_tokens, "question_tokens": question_tokens,
                                          "max_tokens": max_tokens, "seed": seed})


# -- token accounting and the oracle -----------------------------------------------------------

@dataclass
class Tokens:
    """Per request (planned order): prompt ids and the answer's ids, as the simulated worker sees them."""

    prompt: list[tuple[int, ...]]
    answer: list[tuple[int, ...]]


def tokenize(workload: Workload, sim: SimParams, tokenizer: Tokenizer | None = None) -> Tokens:
    tok = tokenizer or Tokenizer()
    prompts, answers = [], []
    for r in workload.requests:
        ids = tok.chat_prompt_ids(r.messages)
        reply = make_reply(tok, ids, max_tokens=r.max_tokens, seed=sim.seed, min_len=sim.min_output_tokens,
                           max_len=sim.max_output_tokens)
        prompts.append(tuple(ids))
        answers.append(tuple(reply.ids))
    return Tokens(prompts, answers)


def replay(indices: Iterable[int], tokens: Tokens, capacity: int | None) -> dict[int, int]:
    """Cached tokens per request when ``indices`` run one at a time on one replica (None: no size limit)."""
    cache = RadixCache(capacity or 10**12)
    out: dict[int, int] = {}
    for i in indices:
        prompt = tokens.prompt[i]
        out[i] = cache.match_prefix(prompt[:-1])  # SGLang always computes the last prompt token
        cache.insert(prompt + tokens.answer[i])
    return out


def assign(workload: Workload, tokens: Tokens, replicas: int) -> dict[str, int]:
    """Keys onto replicas: largest first (requests, then prompt tokens), each onto the least-filled replica."""
    count: dict[str, int] = {}
    volume: dict[str, int] = {}
    for r, p in zip(workload.requests, tokens.prompt, strict=True):
        count[r.key] = count.get(r.key, 0) + 1
        volume[r.key] = volume.get(r.key, 0) + len(p)
    fill = [(0, 0, i) for i in range(replicas)]
    out: dict[str, int] = {}
    for key in sorted(count, key=lambda k: (-count[k], -volume[k], k)):
        n, v, i = min(fill)
        out[key] = i
        fill[i] = (n + count[key], v + volume[key], i)
    return out


@dataclass
class OracleResult:
    hit_rate: float
    cached: list[int]  # per request, planned order
    prompt_tokens: int
    per_replica_requests: list[int]
    ttft_ms: list[float]  # modelled: ttft_ms + uncached / prefill rate (no queueing, no network)

    @property
    def load_max_over_mean(self) -> float:
        return load_max_over_mean(self.per_replica_requests)


def oracle(workload: Workload, tokens: Tokens, *, replicas: int, capacity: int, sim: SimParams) -> OracleResult:
    """The clairvoyant placement described in the module docstring."""
    where = assign(workload, tokens, replicas)
    cached: dict[int, int] = {}
    per: list[int] = []
    for rep in range(replicas):
        idx = [i for i, r in enumerate(workload.requests) if where[r.key] == rep]
        per.append(len(idx))
        cached.update(replay(idx, tokens, capacity))
    return _result([cached[i] for i in range(len(workload.requests))], tokens, per, sim)


def upper_bound(workload: Workload, tokens: Tokens, sim: SimParams) -> OracleResult:
    """One unlimited cache seeing every request in order: the workload's shared-prefix structure."""
    cached = replay(range(len(workload.requests)), tokens, None)
    return _result([cached[i] for i in range(len(workload.requests))], tokens, [len(workload.requests)], sim)


def _result(cached: list[int], tokens: Tokens, per: list[int], sim: SimParams) -> OracleResult:
    total = sum(len(p) for p in tokens.prompt)
    ttft = [sim.ttft_ms + (len(p) - c) / sim.prefill_tps * 1000.0 for p, c in zip(tokens.prompt, cached, strict=True)]
    return OracleResult(sum(cached) / total if total else 0.0, cached, total, per, ttft)


def load_max_over_mean(counts: Sequence[int]) -> float:
    mean = sum(counts) / len(counts) if counts else 0.0
    return max(counts) / mean if mean else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in [0, 100]); NaN for no values."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def footprint(tokens: Tokens, workload: Workload) -> dict[str, int]:
    """Distinct cached tokens the workload needs: all of it, and the largest single key."""
    cache = RadixCache(10**12)
    per_key: dict[str, RadixCache] = {}
    for r, p, a in zip(workload.requests, tokens.prompt, tokens.answer, strict=True):
        cache.insert(p + a)
        per_key.setdefault(r.key, RadixCache(10**12)).insert(p + a)
    return {"total_tokens": cache.total_size, "largest_key_tokens": max(c.total_size for c in per_key.values())}
