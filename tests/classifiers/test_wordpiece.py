"""The word cache gives ``Tokenizer.encode``'s ids exactly, and declines what it cannot read."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from classifiers.logreg import default_model_dir
from classifiers.wordpiece import WordPieceCache

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    tok = Tokenizer.from_file(str(default_model_dir() / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


@pytest.fixture(scope="module")
def cache(tokenizer: Tokenizer) -> WordPieceCache:
    words = WordPieceCache.of(tokenizer)
    assert words is not None
    return words


def reference(tokenizer: Tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False).ids


def shared_prompts(limit: int) -> list[str]:
    out: list[str] = []
    for path in sorted(SHARED_DATA.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            prompt = orjson.loads(line).get("prompt")
            if isinstance(prompt, str):
                out.append(prompt[:4096])
            if len(out) >= limit:
                return out
    return out


def test_ids_match_encode_on_the_shared_prompts(tokenizer: Tokenizer, cache: WordPieceCache) -> None:
    prompts = shared_prompts(3_000)
    if not prompts:
        pytest.skip(f"no routing data at {SHARED_DATA}")
    plain = [p for p in prompts if cache.ids(p) is not None]
    assert len(plain) > 0.8 * len(prompts)  # most prompts take the fast path
    assert [cache.ids(p) for p in plain] == [reference(tokenizer, p) for p in plain]


ASCII = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=300)


@settings(max_examples=400, deadline=None)
@given(ASCII)
def test_ids_match_encode_on_any_ascii_text(tokenizer: Tokenizer, cache: WordPieceCache, text: str) -> None:
    ids = cache.ids(text)
    if ids is not None:
        assert ids == reference(tokenizer, text)


@pytest.mark.parametrize("text", ["café au lait", "tab\x0bvertical", "nul\x00byte", "a [PAD] token", "[UNK]"])
def test_text_it_cannot_read_is_left_to_encode(cache: WordPieceCache, text: str) -> None:
    assert cache.ids(text) is None


def test_long_words_and_unknown_pieces_are_what_encode_gives(tokenizer: Tokenizer, cache: WordPieceCache) -> None:
    for text in ("a" * 150 + " ok", "zzzqqqxxx_yyy {{x}} 12345678901234567890", "Hello, WORLD!!! don't"):
        assert cache.ids(text) == reference(tokenizer, text)


def test_only_a_bert_uncased_pipeline_gets_a_cache(tokenizer: Tokenizer) -> None:
    cased = Tokenizer.from_str(tokenizer.to_str().replace('"lowercase":true', '"lowercase":false'))
    assert WordPieceCache.of(cased) is None


def test_the_cache_stops_growing_at_its_bound(tokenizer: Tokenizer) -> None:
    small = WordPieceCache(tokenizer, max_words=3)
    assert small.ids("one two three four five") == reference(tokenizer, "one two three four five")
    assert len(small) == 3
