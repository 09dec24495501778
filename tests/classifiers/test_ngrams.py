"""``NgramHasher`` gives the documented algorithm's ids, with or without what it remembers."""

from __future__ import annotations

import re
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers.ngrams import NgramHasher, NgramSpec, ngram_ids, tokens

TOKEN = re.compile(r"\w+|[^\w\s]")


def reference(text: str, spec: NgramSpec) -> list[int]:
    """The module docstring's algorithm, written plainly."""
    toks = TOKEN.findall(text.lower())[: spec.max_tokens]
    return sorted({zlib.crc32(" ".join(toks[i:i + n]).encode()) % spec.buckets
                   for n in spec.orders for i in range(len(toks) - n + 1)})


SPECS = [NgramSpec(), NgramSpec(orders=(1, 2, 3), max_tokens=7, buckets=97), NgramSpec(orders=(2,), max_tokens=3)]
TEXTS = st.text(alphabet=st.sampled_from("ab cd\n?{}ΣσİéX1_'") | st.characters(exclude_categories=("Cs",)),
                max_size=200)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_ids_follow_the_algorithm(text: str) -> None:
    for spec in SPECS:
        hasher = NgramHasher(spec)
        assert hasher.ids(text) == reference(text, spec)
        assert hasher.ids(text) == reference(text, spec)  # second time from what it remembered
        assert ngram_ids(text, spec) == reference(text, spec)


def test_a_long_text_is_cut_at_max_tokens_exactly() -> None:
    text = "word " * 5_000 + "tail"
    assert tokens(text, 512) == ["word"] * 512
    short_tokens = "x" * 9_000  # one token longer than the head the fast path reads
    assert tokens(short_tokens + " y", 2) == [short_tokens, "y"]
    assert tokens("Σ" * 20 + " end", 5) == TOKEN.findall(("Σ" * 20 + " end").lower())[:5]


def test_what_it_remembers_is_bounded() -> None:
    hasher = NgramHasher(NgramSpec(), max_entries=2)
    assert hasher.ids("a b c d e f") == reference("a b c d e f", NgramSpec())
    assert len(hasher._unigrams) == 2 and len(hasher._bigrams) == 2
