from __future__ import annotations

import pytest

from fleet.sim.reply import make_reply
from fleet.sim.tokenize import EOS_ID, RESERVED, ROLE_IDS, TOOLS_ID, VOCAB_SIZE, Tokenizer

PROSE = ("The quick brown fox jumps over the lazy dog, then it runs into the forest to find "
         "something to eat before the night falls. ") * 4


def test_encode_is_deterministic_and_realistic() -> None:
    tok = Tokenizer()
    ids = tok.encode("Hello, world!")
    assert ids == Tokenizer().encode("Hello, world!")  # no per-process randomness
    assert len(ids) == 4  # "Hello" "," " world" "!"
    assert all(RESERVED <= i < VOCAB_SIZE for i in ids)
    chars_per_token = len(PROSE) / len(tok.encode(PROSE))
    assert 3.5 <= chars_per_token <= 6.0
    assert len(tok.encode("internationalization")) == 3  # long words split into <= 8-letter pieces
    assert tok.encode("") == []


def test_pieces_join_back_to_text() -> None:
    tok = Tokenizer()
    text = "Tabs\tand  spaces\n\nnumbers 12345, snake_case & émigré!"
    assert "".join(tok.pieces(text)) == text
    assert len(tok.pieces(text)) == tok.count(text) == len(tok.encode(text))


def test_chat_template_shape() -> None:
    tok = Tokenizer()
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    ids = tok.chat_prompt_ids(msgs)
    nl = tok.encode("\n")
    expect = ([ROLE_IDS["system"]] + nl + tok.encode("Be brief.") + nl + [ROLE_IDS["user"]] + nl
              + tok.encode("Hi") + nl + [ROLE_IDS["assistant"]] + nl)
    assert ids == expect
    assert tok.chat_text(msgs) == "<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\n"
    assert tok.chat_prompt_ids(msgs, add_generation_prompt=False) == expect[:-2]


def test_multi_turn_prompt_extends_previous_turn_plus_reply() -> None:
    tok = Tokenizer()
    history = [{"role": "system", "content": "You are a helpful assistant."},
               {"role": "user", "content": "What is a radix tree?"}]
    for turn in range(4):
        prompt = tok.chat_prompt_ids(history)
        reply = make_reply(tok, prompt)
        history = history + [{"role": "assistant", "content": reply.text},
                             {"role": "user", "content": f"Tell me more ({turn})."}]
        nxt = tok.chat_prompt_ids(history)
        assert nxt[: len(prompt) + len(reply.ids)] == prompt + reply.ids


def test_tools_go_after_system_and_are_canonical() -> None:
    tok = Tokenizer()
    system = {"role": "system", "content": "Shared system prompt " * 10}
    user = {"role": "user", "content": "Weather?"}
    t1 = [{"type": "function", "function": {"name": "get_weather", "parameters": {"b": 1, "a": 2}}}]
    t2 = [{"function": {"parameters": {"a": 2, "b": 1}, "name": "get_weather"}, "type": "function"}]
    t3 = [{"type": "function", "function": {"name": "search"}}]
    a = tok.chat_prompt_ids([system, user], t1)
    assert a == tok.chat_prompt_ids([system, user], t2)  # key order does not matter
    no_tools = tok.chat_prompt_ids([system, user])
    sys_len = no_tools.index(ROLE_IDS["user"])
    assert a[:sys_len] == no_tools[:sys_len]  # the system prompt is shared whatever the tools
    assert a[sys_len] == TOOLS_ID
    assert tok.chat_prompt_ids([system, user], t3)[:sys_len] == no_tools[:sys_len]
    assert "<|tools|>" in tok.chat_text([system, user], t1)


def test_content_parts_tool_calls_and_bad_messages() -> None:
    tok = Tokenizer()
    parts = [{"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]}]
    assert tok.chat_prompt_ids(parts) == tok.chat_prompt_ids([{"role": "user", "content": "Hi there"}])
    call = {"role": "assistant", "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    assert len(tok.chat_prompt_ids([call])) > 10
    with pytest.raises(ValueError):
        tok.chat_prompt_ids([{"content": "no role"}])
    with pytest.raises(ValueError):
        tok.chat_prompt_ids(["not an object"])  # type: ignore[list-item]


def test_reply_is_deterministic_and_tokenizes_to_its_ids() -> None:
    tok = Tokenizer()
    lengths = set()
    for i in range(300):
        prompt = tok.encode(f"prompt number {i}")
        r = make_reply(tok, prompt)
        assert r == make_reply(Tokenizer(), prompt)
        assert tok.encode(r.text) == r.ids
        assert len(r.pieces) == len(r.ids)
        assert 16 <= len(r.ids) <= 64
        assert r.finish_reason == "stop" and r.natural_end and r.text.endswith(".")
        lengths.add(len(r.ids))
    assert len(lengths) > 20
    assert make_reply(tok, [1, 2, 3]).text != make_reply(tok, [1, 2, 4]).text
    assert make_reply(tok, [1, 2, 3], seed=1).text != make_reply(tok, [1, 2, 3]).text


def test_reply_max_tokens_and_stop() -> None:
    tok = Tokenizer()
    prompt = tok.encode("tell me a story")
    full = make_reply(tok, prompt)
    short = make_reply(tok, prompt, max_tokens=5)
    assert len(short.ids) == 5 and short.finish_reason == "length" and not short.natural_end
    assert short.ids == full.ids[:5]
    assert make_reply(tok, prompt, max_tokens=10_000) == full
    word = full.pieces[3]
    stopped = make_reply(tok, prompt, stop=["nomatch", word])
    assert stopped.finish_reason == "stop" and stopped.matched_stop == word
    assert stopped.text == full.text[: full.text.find(word)]
    assert tok.encode(stopped.text) == stopped.ids
    assert EOS_ID < RESERVED


def test_segment_memo_is_transparent_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import fleet.sim.tokenize as tokenize_mod

    monkeypatch.setattr(tokenize_mod, "SEGMENT_MEMO_TOKENS", 500)
    tok = Tokenizer()
    texts = [f"Document {i}: " + PROSE for i in range(10)]  # ~110 tokens each, all memoized
    for _ in range(2):
        for text in texts:
            assert list(tok.encode_segment(text)) == Tokenizer().encode(text)
    assert tok._segment_tokens <= 500 and len(tok._segments) < len(texts)
    short = "short text"
    assert list(tok.encode_segment(short)) == tok.encode(short) and short not in tok._segments
