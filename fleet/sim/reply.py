"""Deterministic replies for the simulated worker and the fake provider.

A reply is a function of (prompt token ids, max_tokens, stop, seed) only: the prompt ids are
hashed (BLAKE2b) with the seed into the state of a private ``random.Random``, which picks a
natural length uniformly in ``[min_len, max_len]`` (16-64 by default) and then words from a
fixed vocabulary of short lowercase words, with a comma or a full stop every few words. Every
piece (``"word"``, ``" word"``, ``","``, ``"."``) is exactly one token of
:class:`~fleet.sim.tokenize.Tokenizer`, so the reply's token ids equal
``tokenizer.encode(reply.text)`` -- which keeps multi-turn prefix reuse exact.

Length: ``min(natural, max_tokens)``; ``finish_reason`` is ``"length"`` when ``max_tokens``
cut the reply short, else ``"stop"`` (a natural end finishes with a full stop). A ``stop``
string found in the text cuts the reply before it (``finish_reason="stop"``,
``matched_stop`` = that string).
"""

from __future__ import annotations

import hashlib
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from .tokenize import Tokenizer

WORDS: tuple[str, ...] = tuple(w for w in [
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
    "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "they", "you", "were",
    "her", "she", "there", "been", "one", "all", "we", "their", "has", "would", "when", "if", "more", "no",
    "out", "so", "up", "said", "what", "its", "about", "than", "into", "them", "can", "only", "other", "time",
    "new", "some", "could", "these", "two", "may", "first", "then", "do", "any", "like", "my", "now", "over",
    "such", "our", "man", "me", "even", "most", "made", "after", "also", "did", "many", "before", "must",
    "through", "back", "years", "where", "much", "your", "way", "well", "down", "should", "because", "each",
    "just", "those", "people", "how", "too", "little", "state", "good", "very", "make", "world", "still",
    "own", "see", "men", "work", "long", "get", "here", "between", "both", "life", "being", "under", "never",
    "day", "same", "another", "know", "while", "last", "might", "us", "great", "old", "year", "off", "come",
    "since", "against", "go", "came", "right", "used", "take", "three", "states", "himself", "few", "house",
    "use", "during", "without", "again", "place", "around", "however", "home", "small", "found", "thought",
    "went", "say", "part", "once", "general", "high", "upon", "school", "every", "does", "got", "united",
    "left", "number", "course", "war", "until", "always", "away", "something", "fact", "though", "water",
    "less", "public", "put", "think", "almost", "hand", "enough", "far", "took", "head", "yet", "system",
    "better", "set", "told", "nothing", "night", "end", "why", "called", "didn", "going", "look", "asked",
    "later", "knew", "point", "next", "program", "city", "give", "group", "toward", "young", "days", "let",
    "room", "president", "side", "social", "given", "present", "order", "national", "rather", "second",
    "possible", "light", "face", "line", "often", "among", "white", "early", "became", "large", "open",
    "need", "case", "others", "power", "several", "family", "form", "mind", "country", "human", "thing",
] if len(w) <= 8)  # <= 8 letters: one token each

DEFAULT_MIN_LEN = 16
DEFAULT_MAX_LEN = 64


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    ids: list[int]
    pieces: list[str]  # one string per token (len(pieces) == len(ids)), for streaming
    finish_reason: str  # "stop" | "length"
    matched_stop: str | None  # the stop string that ended the reply, if any

    @property
    def natural_end(self) -> bool:
        return self.finish_reason == "stop" and self.matched_stop is None


def make_reply(tokenizer: Tokenizer, prompt_ids: Sequence[int], *, max_tokens: int | None = None,
               stop: Sequence[str] = (), seed: int = 0, min_len: int = DEFAULT_MIN_LEN,
               max_len: int = DEFAULT_MAX_LEN) -> Reply:
    rng = prompt_rng(prompt_ids, seed)
    natural = rng.randint(min_len, max(min_len, max_len))
    n = natural if max_tokens is None else max(0, min(natural, max_tokens))
    pieces = _pieces(rng, n, natural)
    text = "".join(pieces)
    finish = "length" if n < natural else "stop"
    for s in stop:
        if not s:
            continue
        at = text.find(s)
        if at >= 0:
            text = text[:at]
            pieces = tokenizer.pieces(text)
            return Reply(text, [tokenizer.piece_id(p) for p in pieces], pieces, "stop", s)
    return Reply(text, [tokenizer.piece_id(p) for p in pieces], pieces, finish, None)


def prompt_rng(prompt_ids: Sequence[int], seed: int = 0) -> random.Random:
    """The reply's random source: BLAKE2b of the prompt ids, keyed by the seed."""
    digest = hashlib.blake2b(array("q", prompt_ids).tobytes(), digest_size=16,
                             key=seed.to_bytes(8, "little", signed=True)).digest()
    return random.Random(int.from_bytes(digest, "little"))


def fixed_reply(tokenizer: Tokenizer, text: str, max_tokens: int | None = None) -> Reply:
    """A reply whose text is given (a tool call's arguments, a JSON document): tokenized, and cut
    to ``max_tokens`` (``finish_reason="length"``) when longer."""
    pieces = tokenizer.pieces(text)
    finish = "stop"
    if max_tokens is not None and len(pieces) > max_tokens:
        pieces, finish = pieces[:max(0, max_tokens)], "length"
    return Reply("".join(pieces), [tokenizer.piece_id(p) for p in pieces], pieces, finish, None)


def _pieces(rng: random.Random, n: int, natural: int) -> list[str]:
    out: list[str] = []
    until_punct = rng.randint(4, 12)
    capital = True
    for i in range(n):
        if i == natural - 1 and i > 0:
            out.append(".")
            break
        if until_punct == 0 and i > 0:
            mark = "." if rng.random() < 0.6 else ","
            out.append(mark)
            capital = mark == "."
            until_punct = rng.randint(4, 12)
            continue
        word = WORDS[rng.randrange(len(WORDS))]
        if capital:
            word = word.capitalize()
            capital = False
        out.append(word if i == 0 else " " + word)
        until_punct -= 1
    return out
