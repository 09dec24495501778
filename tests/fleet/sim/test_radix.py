from __future__ import annotations

import random

import pytest

from fleet.sim.radix import Node, RadixCache


def _tree_size(node: Node) -> int:
    return len(node.key) + sum(_tree_size(c) for c in node.children.values())


def _lcp(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def test_insert_and_match_with_edge_splits() -> None:
    c = RadixCache(1000)
    assert c.match_prefix([1, 2, 3]) == 0
    assert c.insert([1, 2, 3, 4, 5])[0] == 0
    assert c.match_prefix([1, 2, 3, 4, 5, 6]) == 5
    assert c.match_prefix([1, 2, 3, 9]) == 3  # diverges inside the edge
    assert c.insert([1, 2, 3, 9, 9])[0] == 3  # splits the edge
    assert c.total_size == 7
    assert c.match_prefix([1, 2, 3, 4]) == 4
    assert c.match_prefix([1, 2, 3, 9, 9, 9]) == 5
    assert c.insert([1, 2])[0] == 2  # already there
    assert c.total_size == 7 == _tree_size(c.root)
    assert c.match_prefix([2]) == 0


def test_matches_brute_force_reference() -> None:
    rng = random.Random(7)
    c = RadixCache(10**9)
    seqs: list[list[int]] = []
    for _ in range(1500):
        base = rng.choice(seqs) if seqs and rng.random() < 0.7 else []
        seq = base[: rng.randint(0, len(base))] + [rng.randint(0, 4) for _ in range(rng.randint(0, 15))]
        query = base[: rng.randint(0, len(base))] + [rng.randint(0, 4) for _ in range(rng.randint(0, 4))]
        expect = max((_lcp(query, s) for s in seqs), default=0)
        assert c.match_prefix(query) == expect
        if rng.random() < 0.3:
            matched, node = c.match_and_lock(query)
            assert matched == expect and c.protected_size == matched
            c.unlock(node)
            assert c.protected_size == 0
        c.insert(seq)
        seqs.append(seq)
    assert c.total_size == _tree_size(c.root)


def _protected(node: Node) -> int:
    own = len(node.key) if node.lock_ref > 0 and node.parent is not None else 0
    return own + sum(_protected(c) for c in node.children.values())


def test_invariants_under_random_locks_and_eviction() -> None:
    rng = random.Random(11)
    c = RadixCache(200)
    held: list[Node] = []
    for _ in range(3000):
        seq = [rng.randint(0, 3) for _ in range(rng.randint(1, 40))]
        op = rng.random()
        if op < 0.4:
            c.insert(seq)
        elif op < 0.7:
            held.append(c.match_and_lock(seq)[1])
        elif held:
            c.unlock(held.pop(rng.randrange(len(held))))
        assert c.total_size == _tree_size(c.root)
        assert c.protected_size == _protected(c.root)
        if not held:
            assert c.total_size <= 200 + 40  # only the latest insert may overflow
    for node in held:
        c.unlock(node)
    assert c.protected_size == 0
    c.evict(10**9)
    assert c.total_size == 0 and c.num_nodes == 0


def test_lru_eviction_of_leaves() -> None:
    c = RadixCache(30)
    c.insert(list(range(0, 10)))  # A
    c.insert(list(range(100, 110)))  # B
    c.insert(list(range(200, 210)))  # C
    assert c.total_size == 30
    c.match_prefix(list(range(0, 10)))  # A is now more recent than B
    c.insert(list(range(300, 310)))  # D: over capacity -> evict the LRU leaf, B
    assert c.total_size == 30 and c.evicted_tokens == 10
    assert c.match_prefix(list(range(100, 110))) == 0
    assert c.match_prefix(list(range(0, 10))) == 10
    assert c.match_prefix(list(range(200, 210))) == 10
    assert c.match_prefix(list(range(300, 310))) == 10


def test_parent_becomes_leaf_and_is_evicted_after_its_children() -> None:
    c = RadixCache(100)
    c.insert([1] * 10 + [2] * 10)
    c.insert([1] * 10 + [3] * 10)  # shared parent of 10, two children of 10
    assert c.num_nodes == 3
    assert c.evict(30) == 30
    assert c.total_size == 0 and c.num_nodes == 0 and c.root.children == {}


def test_locked_nodes_survive_eviction() -> None:
    c = RadixCache(25)
    prompt = list(range(20))
    c.insert(prompt)
    matched, node = c.match_and_lock(prompt[:15])  # lock a prefix (splits the edge)
    assert matched == 15 and c.protected_size == 15 and c.evictable_size == 5
    c.insert(list(range(1000, 1010)))  # over capacity: only unlocked leaves can go
    assert c.match_prefix(prompt) >= 15
    assert c.evict(1000) <= 15  # everything unlocked goes, the locked prefix stays
    assert c.match_prefix(prompt) == 15 and c.total_size == 15
    c.unlock(node)
    assert c.protected_size == 0
    assert c.evict(1000) == 15 and c.total_size == 0
    with pytest.raises(ValueError):
        c.unlock(node)


def test_over_capacity_when_everything_is_locked() -> None:
    c = RadixCache(10)
    _, n1 = c.insert(list(range(8)))
    c.lock(n1)
    _, n2 = c.insert(list(range(100, 108)))  # nothing evictable: over capacity for now
    assert c.match_prefix(list(range(8))) == 8 and c.match_prefix(list(range(100, 108))) == 8
    assert c.total_size == 16 and c.protected_size == 8
    c.unlock(n1)
    c.insert([7, 7])  # now the least recently used leaf (the first one) goes
    assert c.total_size == 10 and n1.alive is False and n2.alive is True
    assert c.match_prefix(list(range(8))) == 0


def test_reset_and_bad_capacity() -> None:
    c = RadixCache(10)
    c.insert([1, 2, 3])
    c.reset()
    assert c.total_size == 0 and c.match_prefix([1, 2, 3]) == 0
    with pytest.raises(ValueError):
        RadixCache(0)


def test_thousands_of_long_prompts_stay_consistent() -> None:
    """Many long prompts with shared prefixes under eviction: sizes add up, survivors still match.

    (How fast this runs is for a benchmark to say, not a test: these machines are noisy.)
    """
    rng = random.Random(3)
    systems = [list(range(k * 10_000, k * 10_000 + 1500)) for k in range(4)]
    prompts = [tuple(rng.choice(systems)[: rng.choice([0, 500, 1500])]
                     + list(range(100_000 + 1500 * i, 100_000 + 1500 * (i + 1)))) for i in range(2000)]
    c = RadixCache(1_500_000)
    for p in prompts:
        _, node = c.match_and_lock(p)
        c.insert(p + (1, 2, 3))
        c.unlock(node)
    assert c.total_size <= 1_500_000 and c.evicted_tokens > 0
    assert c.total_size == _tree_size(c.root)
    for p in prompts[-500:]:
        assert c.match_prefix(p) == len(p)
