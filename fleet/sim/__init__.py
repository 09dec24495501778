"""Simulators that stand in for real model servers in tests, demos and benchmarks.

* :mod:`fleet.sim.worker` -- a simulated SGLang worker (SGLang's HTTP surface, a latency model,
  a radix prefix cache; no GPU).
* :mod:`fleet.sim.fake_provider` -- a fake external provider speaking OpenAI's and Anthropic's
  APIs, for the litellm backend.

Supporting modules: :mod:`~fleet.sim.tokenize` (toy tokenizer and chat template),
:mod:`~fleet.sim.reply` (deterministic replies), :mod:`~fleet.sim.radix` (prefix tree with LRU
eviction), :mod:`~fleet.sim.engine` (queueing, latency, cache bookkeeping),
:mod:`~fleet.sim.metrics` (Prometheus text), :mod:`~fleet.sim.worker_generate` (generation
endpoints), :mod:`~fleet.sim.worker_chat` (the worker's chat endpoint), :mod:`~fleet.sim.answer`
(prose, tool call or JSON for a request), :mod:`~fleet.sim.schema_instance` (values valid for a
JSON schema), :mod:`~fleet.sim.chat_wire` (OpenAI chat shapes of an answer),
:mod:`~fleet.sim.logprobs`, :mod:`~fleet.sim.images`, :mod:`~fleet.sim.fake_core` and
:mod:`~fleet.sim.fake_anthropic` (the fake provider's shared state and Anthropic face).
"""
