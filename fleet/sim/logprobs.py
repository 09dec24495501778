"""Token log-probabilities in OpenAI's shape, for ``logprobs: true`` (and ``top_logprobs: N``).

Each generated token gets ``{"token", "logprob", "bytes", "top_logprobs"}``; the values are a
function of the token id and its position only (no model behind them): the chosen token's
logprob lies in ``[-2.5, 0]`` and leads ``top_logprobs``, followed by ``N - 1`` other words of
:data:`fleet.sim.reply.WORDS` with lower, decreasing logprobs. Streams send the entries of the
tokens in each chunk; ``start`` is the position of the first of them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from .reply import WORDS

MAX_TOP_LOGPROBS = 20


def content(pieces: Sequence[str], ids: Sequence[int], top: int, start: int = 0) -> list[dict[str, Any]]:
    """``choices[i].logprobs.content`` for these tokens."""
    return [_entry(piece, tid, start + k, top) for k, (piece, tid) in enumerate(zip(pieces, ids, strict=True))]


def _entry(piece: str, tid: int, pos: int, top: int) -> dict[str, Any]:
    rng = random.Random(tid * 1_000_003 + pos)
    logprob = -round(rng.random() * 2.5, 4)
    alternatives: list[dict[str, Any]] = []
    if top > 0:
        alternatives.append(_item(piece, logprob))
        lp = logprob
        while len(alternatives) < top:
            word = (" " if piece.startswith(" ") else "") + rng.choice(WORDS)
            if any(a["token"] == word for a in alternatives):
                continue
            lp = round(lp - 0.25 - rng.random() * 1.5, 4)
            alternatives.append(_item(word, lp))
    return {**_item(piece, logprob), "top_logprobs": alternatives}


def _item(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}
