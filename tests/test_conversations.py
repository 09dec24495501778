"""Conversation keys and the in-memory tier store."""

from __future__ import annotations

from router.clock import FakeClock
from router.conversations import SESSION_HEADER, MemoryConversations, conversation_keys

SYS = {"role": "system", "content": "be nice"}


def turn(n: int) -> list[dict]:
    msgs = [SYS]
    for i in range(n):
        msgs.append({"role": "user", "content": f"question {i}"})
        if i < n - 1:
            msgs.append({"role": "assistant", "content": f"answer {i}"})
    return msgs


def test_each_turn_finds_the_previous_turns_key() -> None:
    k1, k2, k3 = (conversation_keys(turn(n), {}, "p|auto") for n in (1, 2, 3))
    assert k1.lookup is None  # a first turn has nothing to look up
    assert k2.lookup == k1.store and k3.lookup == k2.store
    assert len({k1.store, k2.store, k3.store}) == 3


def test_assistant_text_and_parts_do_not_change_keys() -> None:
    a = turn(2)
    b = [dict(m) for m in a]
    b[2]["content"] = "a different answer"
    b[1]["content"] = [{"type": "text", "text": "question 0"}]
    assert conversation_keys(a, {}, "s") == conversation_keys(b, {}, "s")


def test_scope_and_session_header() -> None:
    assert conversation_keys(turn(2), {}, "alice|auto") != conversation_keys(turn(2), {}, "bob|auto")
    s1 = conversation_keys(turn(1), {SESSION_HEADER: "abc"}, "p")
    s5 = conversation_keys(turn(5), {SESSION_HEADER: "abc"}, "p")
    assert s1.lookup == s1.store == s5.lookup  # a session id names the conversation from its first turn


async def test_memory_store_ttl_and_bound() -> None:
    clock = FakeClock()
    store = MemoryConversations(clock, max_entries=2)
    await store.put("a", "large", 10)
    assert await store.get("a") == "large"
    clock.advance(11)
    assert await store.get("a") is None
    for k in "bcd":
        await store.put(k, "small", 10)
    assert len(store) == 2 and await store.get("b") is None and await store.get("d") == "small"
