"""Issue 10, point 6: /admin/stats ``bounds`` shows each structure that grows with traffic and its cap:
the h1 pool (SGLang connections), the affinity store, the conversation store, the learning queues."""

from __future__ import annotations

import httpx

from router.backends.h1 import IDLE_EXPIRY_S, MAX_IDLE_PER_ORIGIN
from router.balance.affinity import MAX_ENTRIES
from router.limits import MAX_KEYS
from tests.integration.conftest import CLIENT_KEY, Cluster, ProxyFactory, default_policy


def test_bounds_are_shown(cluster: Cluster, make_proxy: ProxyFactory) -> None:
    policy = default_policy(cluster, sticky={"enabled": True, "max_conversations": 500})
    policy["balance"] = {"policy": "cache_aware"}
    with make_proxy(policy) as proxy:
        for i in range(4):
            r = httpx.post(proxy.v1 + "/chat/completions", headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                           json={"model": "auto", "max_tokens": 2,
                                 "messages": [{"role": "user", "content": f"conversation {i} says hello"}]})
            assert r.status_code == 200, r.text
        bounds = proxy.admin("/admin/stats")["bounds"]
    pool = bounds["h1_pool"]
    assert (pool["max_idle_per_origin"], pool["idle_expiry_s"]) == (MAX_IDLE_PER_ORIGIN, IDLE_EXPIRY_S)
    assert pool["idle"] >= 1  # the small tier's connection is kept alive
    assert bounds["affinity"]["max_entries"] == MAX_ENTRIES and bounds["affinity"]["entries"] > 0
    assert bounds["conversations"] == {"store": "memory", "entries": 4, "max_entries": 500}
    assert bounds["learning"]["remember_queue_max"] > 0
    assert bounds["limits"] == {"tracked_keys": 0, "max_keys": MAX_KEYS, "dropped_keys": 0}  # no key has limits


def test_the_shipped_classifiers_caches_are_shown_with_their_caps(cluster: Cluster, make_proxy: ProxyFactory) -> None:
    """The word-piece and n-gram caches grow with the words traffic brings: /admin/stats shows them."""
    from classifiers.logreg import load_classifier
    from classifiers.ngrams import DEFAULT_MAX_ENTRIES
    from classifiers.wordpiece import DEFAULT_MAX_WORDS

    with make_proxy(default_policy(cluster), classifier=load_classifier()) as proxy:
        r = httpx.post(proxy.v1 + "/chat/completions", headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                       json={"model": "auto", "max_tokens": 2,
                             "messages": [{"role": "user", "content": "six distinct words in this prompt"}]})
        assert r.status_code == 200, r.text
        caches = proxy.admin("/admin/stats")["bounds"]["classifier"]
    assert caches["word_pieces"] == {"words": 6, "max_words": DEFAULT_MAX_WORDS}
    assert caches["ngrams"] == {"unigrams": 6, "bigrams": 5, "max_entries": DEFAULT_MAX_ENTRIES}
