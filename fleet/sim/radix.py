"""A token-level radix (prefix) tree with LRU leaf eviction, after SGLang's ``RadixCache``.

Model (as in ``python/sglang/srt/mem_cache/radix_cache.py``): every cached token sequence is a
path from the root; an edge holds a run of tokens (a tuple), children are keyed by the first
token of their run. ``match_prefix`` walks down and returns how many leading tokens are
cached. ``insert`` adds the missing suffix (splitting an edge where the sequences diverge).
Nodes used by running requests are *locked*: ``lock(node)`` increments a reference count on
the node and all its ancestors; locked nodes are never evicted. When the tree holds more than
``capacity`` tokens, unlocked leaves are evicted least-recently-used first; a parent whose last
child goes becomes a leaf and a candidate itself. An insert never evicts what it inserted, so
the tree can exceed ``capacity`` while everything else is locked. ``total_size`` counts all cached tokens,
``protected_size`` the locked ones and ``evictable_size`` the rest.

Recency is a logical clock (a counter bumped on every match and insert), so behaviour is
deterministic. Eviction candidates live in a heap of ``(last_access, seq, node)`` entries that
are validated lazily when popped (a stale entry -- node touched since, locked, no longer a
leaf or already removed -- is dropped); the heap is rebuilt when stale entries outnumber live
nodes 4 to 1.

Complexity, for a prompt of ``n`` tokens on a path of ``d`` edges: ``match_prefix`` and
``insert`` cost O(d) Python steps plus O(n) of tuple comparison done in C (edges are compared
by slice equality; a divergence inside an edge is located by bisection, O(log L) slice
compares); ``lock``/``unlock`` O(d); evicting ``k`` leaves O(k log H) for a heap of ``H``
entries. A tree of thousands of entries of a few thousand tokens each matches a prompt in
tens of microseconds.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from itertools import count

Tokens = tuple[int, ...]


class Node:
    __slots__ = ("key", "children", "parent", "lock_ref", "last_access", "alive")

    def __init__(self, key: Tokens, parent: Node | None, last_access: int) -> None:
        self.key = key
        self.children: dict[int, Node] = {}
        self.parent = parent
        self.lock_ref = 0
        self.last_access = last_access
        self.alive = True

    def __repr__(self) -> str:
        return f"Node(len={len(self.key)}, children={len(self.children)}, lock_ref={self.lock_ref})"


class RadixCache:
    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._tick = count(1)
        self._seq = count()
        self.reset()

    def reset(self) -> None:
        """Drop everything, including locks (callers must not unlock old nodes afterwards)."""
        self.root = Node((), None, 0)
        self.root.lock_ref = 1  # never evicted
        self.total_size = 0
        self.protected_size = 0
        self.num_nodes = 0
        self.evicted_tokens = 0
        self._heap: list[tuple[int, int, Node]] = []

    @property
    def evictable_size(self) -> int:
        return self.total_size - self.protected_size

    # -- lookups ------------------------------------------------------------------------------

    def match_prefix(self, tokens: Sequence[int]) -> int:
        """Number of leading ``tokens`` already cached (marks the matched path as used)."""
        return self._match(_as_tuple(tokens), split=False)[0]

    def match_and_lock(self, tokens: Sequence[int]) -> tuple[int, Node]:
        """Like :meth:`match_prefix`, and lock the matched path; returns (matched_len, node).

        The node covers exactly the matched prefix (an edge matched part-way is split), so
        ``unlock(node)`` releases exactly what was locked. With no match it is the root.
        """
        matched, node = self._match(_as_tuple(tokens), split=True)
        self.lock(node)
        return matched, node

    def _match(self, key: Tokens, *, split: bool) -> tuple[int, Node]:
        tick = next(self._tick)
        node = self.root
        pos = 0
        n = len(key)
        while pos < n:
            child = node.children.get(key[pos])
            if child is None:
                break
            ck = child.key
            clen = len(ck)
            if key[pos:pos + clen] == ck:
                child.last_access = tick
                node = child
                pos += clen
                continue
            common = _common_len(ck, key, pos)
            child.last_access = tick
            if split:
                node = self._split(child, common)
            self._touch_leaf(child)
            pos += common
            break
        self._touch_leaf(node)
        return pos, node

    # -- updates ------------------------------------------------------------------------------

    def insert(self, tokens: Sequence[int]) -> tuple[int, Node]:
        """Cache ``tokens``; returns (tokens that were already cached, node of the full sequence).

        Then evicts unlocked leaves, LRU first, while the tree is over capacity -- never the
        sequence just inserted, so the tree may stay over capacity when everything else is
        locked (until a later insert or unlock makes room).
        """
        key = _as_tuple(tokens)
        tick = next(self._tick)
        node = self.root
        pos = 0
        n = len(key)
        while pos < n:
            child = node.children.get(key[pos])
            if child is None:
                break
            ck = child.key
            clen = len(ck)
            child.last_access = tick
            if key[pos:pos + clen] == ck:
                node = child
                pos += clen
                continue
            common = _common_len(ck, key, pos)
            node = self._split(child, common)
            self._touch_leaf(child)
            pos += common
            break
        cached = pos
        if pos < n:  # a new leaf starts unlocked, even under a locked parent
            leaf = Node(key[pos:], node, tick)
            node.children[key[pos]] = leaf
            self.num_nodes += 1
            self.total_size += n - pos
            node = leaf
        if self.total_size > self.capacity:
            self.lock(node)
            self.evict(self.total_size - self.capacity)
            self.unlock(node)  # also makes it an eviction candidate again
        else:
            self._touch_leaf(node)
        return cached, node

    def lock(self, node: Node) -> None:
        while node is not self.root:
            if node.lock_ref == 0:
                self.protected_size += len(node.key)
            node.lock_ref += 1
            node = node.parent  # type: ignore[assignment]

    def unlock(self, node: Node) -> None:
        start = node
        while node is not self.root:
            if node.lock_ref <= 0:
                raise ValueError("unlock of a node that is not locked")
            node.lock_ref -= 1
            if node.lock_ref == 0:
                self.protected_size -= len(node.key)
            node = node.parent  # type: ignore[assignment]
        self._touch_leaf(start)

    def evict(self, num_tokens: int) -> int:
        """Evict unlocked leaves, least recently used first, until ``num_tokens`` are freed."""
        freed = 0
        heap = self._heap
        while freed < num_tokens and heap:
            stamp, _, node = heapq.heappop(heap)
            if (not node.alive or node.children or node.lock_ref > 0 or node.last_access != stamp):
                continue
            parent = node.parent
            assert parent is not None
            del parent.children[node.key[0]]
            node.alive = False
            size = len(node.key)
            freed += size
            self.total_size -= size
            self.num_nodes -= 1
            self._touch_leaf(parent)
        self.evicted_tokens += freed
        return freed

    # -- internals ----------------------------------------------------------------------------

    def _split(self, child: Node, at: int) -> Node:
        """Cut ``child``'s edge after ``at`` tokens; return the new upper node."""
        parent = child.parent
        assert parent is not None and 0 < at < len(child.key)
        upper = Node(child.key[:at], parent, child.last_access)
        upper.lock_ref = child.lock_ref
        parent.children[child.key[0]] = upper
        child.key = child.key[at:]
        child.parent = upper
        upper.children[child.key[0]] = child
        self.num_nodes += 1
        return upper

    def _touch_leaf(self, node: Node) -> None:
        if node is self.root or node.children or node.lock_ref > 0:
            return
        heapq.heappush(self._heap, (node.last_access, next(self._seq), node))
        if len(self._heap) > 4 * self.num_nodes + 64:
            self._rebuild_heap()

    def _rebuild_heap(self) -> None:
        live: list[tuple[int, int, Node]] = []
        stack = [self.root]
        while stack:
            node = stack.pop()
            if node.children:
                stack.extend(node.children.values())
            elif node is not self.root and node.lock_ref == 0:
                live.append((node.last_access, next(self._seq), node))
        heapq.heapify(live)
        self._heap = live


def _as_tuple(tokens: Sequence[int]) -> Tokens:
    return tokens if isinstance(tokens, tuple) else tuple(tokens)


def _common_len(edge: Tokens, key: Tokens, pos: int) -> int:
    """Length of the common prefix of ``edge`` and ``key[pos:]`` (bisection on slice equality)."""
    lo, hi = 0, min(len(edge), len(key) - pos)  # edge[:lo] matches; edge[:hi+1] does not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if edge[lo:mid] == key[pos + lo:pos + mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo
