"""``WordPieceCache``: BERT word-piece token ids of plain-ASCII text, one dict lookup per word.

``tokenizers.Tokenizer.encode`` costs ~60 µs for a short prompt, most of it building an
``Encoding`` (offsets, masks, words) the static embedder never reads; the ids of a word never
change, so they can be remembered. For text that is printable ASCII (plus tab, newline and
carriage return) with no added-token string in it, BERT's normaliser and pre-tokeniser reduce to:

1. lower-case the text (``BertNormalizer``: ``clean_text`` removes nothing here and maps tab,
   newline and CR to spaces; accents and CJK handling do not apply to ASCII);
2. split it into runs of letters and digits and single punctuation characters, dropping
   whitespace (``BertPreTokenizer``: every printable non-alphanumeric ASCII character is
   punctuation in BERT's sense);
3. each piece's ids are the word-piece model's (``tokenizer.model.tokenize``), computed once and
   kept in a dict (at most ``max_words`` entries; past that, new words are computed, not kept).

:meth:`WordPieceCache.of` builds one only for a tokenizer that is exactly that: word-piece model,
``BertNormalizer`` with ``lowercase`` and ``clean_text``, ``BertPreTokenizer`` (MiniLM's); for any
other it returns None. Any other text (non-ASCII, control characters, ``[PAD]``-like added tokens) returns None and
the caller uses ``Tokenizer.encode``. ``tests/classifiers/test_wordpiece.py`` checks the ids are
``encode``'s, on the shared data's prompts and on generated ASCII text.
"""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_MAX_WORDS = 50_000  # ~18 MB when full (random 4-12 letter words, tracemalloc)
_PIECE = re.compile(r"[a-z0-9]+|[!-/:-@\[-`{-~]")
_PLAIN = re.compile(r"[^\x20-\x7e\t\n\r]")


class WordPieceCache:
    """Ids of plain-ASCII text from a cache of word → ids (module docstring)."""

    def __init__(self, tokenizer: Any, *, max_words: int = DEFAULT_MAX_WORDS) -> None:
        """``tokenizer`` is a ``tokenizers.Tokenizer`` whose model is word-piece (BERT-style)."""
        self._model = tokenizer.model
        self._added = tuple(t.content for t in tokenizer.get_added_tokens_decoder().values())
        self._words: dict[str, list[int]] = {}
        self.max_words = max_words

    @classmethod
    def of(cls, tokenizer: Any, *, max_words: int = DEFAULT_MAX_WORDS) -> WordPieceCache | None:
        """A cache for ``tokenizer`` if it is BERT's uncased word-piece pipeline, else None."""
        spec = json.loads(tokenizer.to_str())
        norm, pre, model = spec.get("normalizer") or {}, spec.get("pre_tokenizer") or {}, spec.get("model") or {}
        if (model.get("type") == "WordPiece" and pre.get("type") == "BertPreTokenizer"
                and norm.get("type") == "BertNormalizer" and norm.get("lowercase") and norm.get("clean_text")):
            return cls(tokenizer, max_words=max_words)
        return None

    def __len__(self) -> int:
        return len(self._words)

    def describe(self) -> dict[str, int]:
        """Its size against its cap (``/admin/stats`` → ``bounds.classifier``)."""
        return {"words": len(self._words), "max_words": self.max_words}

    def ids(self, text: str) -> list[int] | None:
        """The token ids of ``text`` as ``encode(text, add_special_tokens=False)``, or None (not plain)."""
        if not text.isascii() or _PLAIN.search(text) or any(a in text for a in self._added):
            return None
        words, out = self._words, []
        for piece in _PIECE.findall(text.lower()):
            ids = words.get(piece)
            if ids is None:
                ids = [t.id for t in self._model.tokenize(piece)]
                if len(words) < self.max_words:
                    words[piece] = ids
            out += ids
        return out
