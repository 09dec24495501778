"""Which part of a prompt the classifier reads, and cheap hand-made text features.

Pure functions over strings (numpy only), the same at training and serving time.

**Focus text** (:func:`focus_text`). Few-shot prompts put worked examples first and the
question last; the examples are usually the same for every prompt of a benchmark, so an
embedding of the whole prompt (or of its first 256 tokens) describes the examples, not the
question. Algorithm: split the text into blocks at blank lines; if there are at least
``MIN_FEW_SHOT_BLOCKS`` blocks and the last line of the last block (its "answer cue", e.g.
``Answer:``) or the first line of the last block (its "question cue") also starts or ends an
earlier block, the prompt repeats a template, so the focus is the last block. Otherwise the
focus is the whole text. Open-ended prompts (one block, or an instruction followed by a
document) are therefore scored whole.

**Cheap features** (:func:`text_features`), computed on the focus text unless the name says
``full``; each is a float, bounded or log-scaled so a linear model can use it after
standardisation:

- ``log_chars``, ``log_words``, ``log_lines`` of the focus; ``log_chars_full`` and
  ``log_blocks_full`` of the whole text (how much context came with the question);
- ``code``: share of characters that are code punctuation ``{}[]();=<>_`` plus 0.2 per code
  marker substring (fences, ``def``, ``return``, ``import``, ``#include``, ...), capped at 1;
- ``math``: share of characters that are digits or ``+-*/^=%``, plus 0.2 per LaTeX marker
  (``\\frac``, ``\\sqrt``, ...) and per maths word (solve, prove, equation, ...), capped at 1;
- ``question``: 1 if the focus contains ``?``; ``wh_start``: 1 if it starts with a wh-word;
- ``imperative``: 1 if it starts with a task verb (write, implement, explain, list, ...);
- ``long_words``: share of words with at least 9 letters (a rarity / register proxy);
- ``mean_word_len``: mean letters per word, divided by 10;
- ``type_token``: distinct / all lower-cased words (1 for an empty text);
- ``options``: 1 if the focus has two or more lettered option lines (``A)``, ``B.``, ...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

MIN_FEW_SHOT_BLOCKS = 3
MIN_EXAMPLES = 2
MAX_CUE_CHARS = 120
FEATURE_NAMES: tuple[str, ...] = (
    "log_chars", "log_words", "log_lines", "log_chars_full", "log_blocks_full", "code", "math", "question",
    "wh_start", "imperative", "long_words", "mean_word_len", "type_token", "options",
)
_BLOCK_SPLIT = re.compile(r"\n[ \t]*\n")
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_CODE_PUNCT = "{}[]();=<>_"
_CODE_MARKERS = ("```", "def ", "return ", "import ", "#include", "function", "class ", "=>", "::", "SELECT ", "</")
_MATH_CHARS = "0123456789+-*/^=%"
_MATH_MARKERS = ("\\frac", "\\sqrt", "\\sum", "\\int", "$$")
_MATH_WORDS = frozenset({"sin", "cos", "log", "sqrt", "integral", "derivative", "equation", "probability", "theorem",
                         "prove", "solve"})
_WH = re.compile(r"^\W*(?:what|why|how|which|who|whom|whose|when|where)\b", re.IGNORECASE)
_IMPERATIVE = re.compile(r"^\W*(?:write|implement|create|generate|design|build|explain|describe|list|give|compose"
                         r"|draft|summari[sz]e|translate|rewrite|compare|analy[sz]e|calculate|compute|solve|prove"
                         r"|find|develop|suggest|make|provide)\b", re.IGNORECASE)
_OPTION_LINE = re.compile(r"^\s*\(?[A-Ha-h][).:]\s+\S", re.MULTILINE)


def blocks(text: str) -> list[str]:
    """The non-blank blocks of ``text`` separated by blank lines, stripped, in order."""
    return [b.strip() for b in _BLOCK_SPLIT.split(text.replace("\r\n", "\n")) if b.strip()]


def focus_text(text: str) -> str:
    """The question of a few-shot prompt (its last block), else ``text`` itself (module docstring)."""
    parts = blocks(text)
    if len(parts) < MIN_FEW_SHOT_BLOCKS:
        return text
    last_lines = parts[-1].splitlines()
    answer_cue, question_cue = last_lines[-1].strip(), last_lines[0].strip()
    answered = sum(_answers_cue(earlier, answer_cue) for earlier in parts[:-1])
    same_start = sum(earlier.splitlines()[0].strip() == question_cue for earlier in parts[:-1])
    if answered >= MIN_EXAMPLES or (same_start >= MIN_EXAMPLES and len(last_lines) > 1):
        return parts[-1]
    return text


def _answers_cue(block: str, cue: str) -> bool:
    """True if a line of ``block`` starts with ``cue`` and an answer follows it (same line or next)."""
    if not cue or len(cue) > MAX_CUE_CHARS:
        return False
    lines = [line.strip() for line in block.splitlines()]
    return any(line.startswith(cue) and (len(line) > len(cue) or i + 1 < len(lines))
               for i, line in enumerate(lines))


def text_features(text: str) -> np.ndarray:
    """The :data:`FEATURE_NAMES` values of one text (see the module docstring), float64."""
    return np.asarray(text_feature_values(text), dtype=np.float64)


def text_feature_values(text: str, focus: str | None = None) -> tuple[float, ...]:
    """:func:`text_features` as a tuple of floats; ``focus`` is ``focus_text(text)`` when the caller has it."""
    if focus is None:
        focus = focus_text(text)
    words = _WORD.findall(focus)
    n_chars = max(len(focus), 1)
    lower = list(map(str.lower, words))  # map(): C loops, the same values as the plain Python ones
    lens = list(map(len, words))
    code = _count_of(focus, _CODE_PUNCT) / n_chars + 0.2 * sum(map(focus.count, _CODE_MARKERS))
    maths = (_count_of(focus, _MATH_CHARS) / n_chars + 0.2 * sum(map(focus.count, _MATH_MARKERS))
             + 0.2 * sum(map(_MATH_WORDS.__contains__, lower)))
    return (
        math.log1p(len(focus)), math.log1p(len(words)), math.log1p(focus.count("\n") + 1),
        math.log1p(len(text)), math.log1p(len(blocks(text))), min(code, 1.0), min(maths, 1.0),
        float("?" in focus), float(bool(_WH.match(focus))), float(bool(_IMPERATIVE.match(focus))),
        len([n for n in lens if n >= 9]) / max(len(words), 1),
        (sum(lens) / max(len(words), 1)) / 10.0,
        len(set(lower)) / len(lower) if lower else 1.0,
        float(len(_OPTION_LINE.findall(focus)) >= 2),
    )


def _count_of(text: str, chars: str) -> int:
    """How many characters of ``text`` are among ``chars`` (one C-level count per character)."""
    return sum(map(text.count, chars))


def feature_matrix(texts: Sequence[str]) -> np.ndarray:
    """Shape ``(len(texts), len(FEATURE_NAMES))``: :func:`text_features` of each text."""
    if not texts:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float64)
    return np.vstack([text_features(t) for t in texts])
