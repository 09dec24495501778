"""The judge's question and answer: one module shared by the proxy and the simulated judge.

The proxy asks a judge the same question twice, with the two answers in both orders
(position bias cancels out): round 1 shows the reference tier's answer as A and the cheap
answer as B, round 2 the other way round. The judge must reply with exactly one JSON object
``{"winner": "A"}``, ``{"winner": "B"}`` or ``{"winner": "tie"}``; anything else is no verdict.

The user's prompt sits between :data:`PROMPT_OPEN` and :data:`PROMPT_CLOSE`; the opening marker
carries ``case=<digest>.<round>``, the first 16 hex of the SHA-256 of the prompt text
(:func:`prompt_digest`) and the round. A model judge reads it as an opaque id; the simulated
judge (:mod:`fleet.sim.judge`) uses it to find the prompt in its outcomes file and to know
which side is the reference (round 1: A, round 2: B).

Verdict → target (docs/learning.md): per round, reference better = 1, tie = 0.5, cheap better
= 0; the label's target is the mean of the two rounds.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

import orjson

Winner = Literal["A", "B", "tie"]
ROUNDS = (1, 2)  # round 1: A = reference; round 2: A = cheap
PROMPT_OPEN = "<<<PROMPT case="
PROMPT_CLOSE = "<<<END PROMPT>>>"
_CASE = re.compile(r"<<<PROMPT case=([0-9a-f]{16})\.([12])>>>\n(.*?)\n<<<END PROMPT>>>", re.S)

SYSTEM = ("You are an impartial judge of AI assistants' answers. You are shown a user's prompt and two "
          "answers, A and B. Decide which answer serves the user better (correctness first, then "
          "helpfulness and completeness; ignore length and style for their own sake). Reply with one JSON "
          'object and nothing else: {"winner": "A"}, {"winner": "B"} or {"winner": "tie"}.')


def prompt_digest(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()[:16]


def judge_messages(prompt: str, reference: str, cheap: str, round_: int, context: str = "") -> list[dict[str, Any]]:
    """The chat messages of one round (``context``: earlier turns of the conversation, if any)."""
    a, b = (reference, cheap) if round_ == 1 else (cheap, reference)
    parts = []
    if context:
        parts.append(f"Earlier conversation:\n{context}\n")
    parts += [f"{PROMPT_OPEN}{prompt_digest(prompt)}.{round_}>>>\n{prompt}\n{PROMPT_CLOSE}",
              f"<<<ANSWER A>>>\n{a}\n<<<END ANSWER A>>>",
              f"<<<ANSWER B>>>\n{b}\n<<<END ANSWER B>>>",
              'Which answer is better? Reply with exactly {"winner": "A"}, {"winner": "B"} or {"winner": "tie"}.']
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def parse_case(text: str) -> tuple[str, int, str] | None:
    """(digest, round, prompt) of a judge prompt made by :func:`judge_messages`, or None."""
    m = _CASE.search(text)
    return (m.group(1), int(m.group(2)), m.group(3)) if m else None


def parse_verdict(content: object) -> Winner | None:
    """The winner of a strict JSON verdict; None for anything else (prose, code fences, other keys' values)."""
    if not isinstance(content, str):
        return None
    try:
        data = orjson.loads(content.strip())
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or set(data) != {"winner"} or data["winner"] not in ("A", "B", "tie"):
        return None
    return data["winner"]  # type: ignore[no-any-return]


def round_target(winner: Winner, round_: int) -> float:
    """1 when the reference answer won this round, 0 when the cheap one did, 0.5 for a tie."""
    if winner == "tie":
        return 0.5
    reference_side = "A" if round_ == 1 else "B"
    return 1.0 if winner == reference_side else 0.0


def winner_for(reference_better: bool, round_: int) -> Winner:
    """The verdict that says "reference better" (or "cheap better") in ``round_`` (for judges that know)."""
    reference_side, cheap_side = ("A", "B") if round_ == 1 else ("B", "A")
    return reference_side if reference_better else cheap_side  # type: ignore[return-value]
