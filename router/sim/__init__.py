"""Simulators that stand in for real model servers in tests, demos and benchmarks.

* :mod:`router.sim.worker` -- a simulated SGLang worker (SGLang's HTTP surface, a latency model,
  a radix prefix cache; no GPU).
* :mod:`router.sim.fake_provider` -- a fake external provider speaking OpenAI's and Anthropic's
  APIs, for the litellm backend.

Supporting modules: :mod:`~router.sim.tokenize` (toy tokenizer and chat template),
:mod:`~router.sim.reply` (deterministic replies), :mod:`~router.sim.radix` (prefix tree with LRU
eviction), :mod:`~router.sim.engine` (queueing, latency, cache bookkeeping),
:mod:`~router.sim.metrics` (Prometheus text), :mod:`~router.sim.worker_generate` (generation
endpoints), :mod:`~router.sim.worker_chat` (the worker's chat endpoint), :mod:`~router.sim.answer`
(prose, tool call or JSON for a request), :mod:`~router.sim.schema_instance` (values valid for a
JSON schema), :mod:`~router.sim.chat_wire` (OpenAI chat shapes of an answer),
:mod:`~router.sim.logprobs`, :mod:`~router.sim.images`, :mod:`~router.sim.fake_core` and
:mod:`~router.sim.fake_anthropic` (the fake provider's shared state and Anthropic face).
"""
