"""What a request is: ``code``, ``math`` or ``other``, from its text alone (rules, no model).

Policies route by it (``routing.rules[].when.task``: code generation → a code model). The rules,
tried in order on the text the classifier scores (lower-cased where it says so):

1. **code** when the text holds code or asks for it: a fenced block (```), a line that looks like
   code (``def``/``class``/``import``/``#include``/``function``/``return``, a statement ending in
   ``;`` or ``{``), or a request to write, fix or explain a function, program, script, query,
   class, method, regex or SQL, or a programming language named next to such a verb;
2. **math** when it is a calculation or a word problem: LaTeX (``\\frac``, ``$…$``, ``^``), an
   equation or an arithmetic expression, maths vocabulary (solve, equation, integral, derivative,
   probability, prime, factor, sum of, how many, how much, percent, remainder, …) together with
   at least one number;
3. **other** otherwise.

An Asymptote diagram (``[asy]…[/asy]``, as maths problems carry) is left out before rule 1.

Accuracy on labelled prompts built from the shared data's sources (code: MBPP; math: GSM8K,
MATH prealgebra, MMLU-Pro's maths; other: ARC-Challenge, WinoGrande, AlpacaEval):
``bench/task_detector.py`` writes ``docs/benchmarks/task_detector.{md,json}``.
"""

from __future__ import annotations

import re
from typing import Literal

Task = Literal["code", "math", "other"]
TASKS: tuple[Task, ...] = ("code", "math", "other")

_FENCE = re.compile(r"```")
_ASY = re.compile(r"\[asy\].*?(?:\[/asy\]|$)", re.S)
_CODE_LINE = re.compile(r"(?m)^\s*(?:def |class |import |from \w+ import |#include|function\b|return\b|public |"
                        r"private |const |let |var |for \(|while \(|if \(|SELECT |CREATE TABLE)|[;{]\s*$")
_CODE_ASK = re.compile(
    r"\b(?:write|implement|create|fix|debug|refactor|optimi[sz]e|explain|complete|generate|convert)\b[^.?!\n]{0,60}?"
    r"\b(?:function|program|script|code|query|class|method|regex|regular expression|algorithm|snippet|api|"
    r"unit tests?|sql|bash|python|javascript|typescript|java|c\+\+|c#|rust|golang|html|css)\b")
_LANG = re.compile(r"\b(?:python|javascript|typescript|java|c\+\+|c#|rust|golang|kotlin|swift|php|ruby|sql|bash|"
                   r"haskell|scala|numpy|pandas|react|django|flask)\b")
_LATEX = re.compile(r"\\(?:frac|sqrt|sum|int|cdot|times|pi|theta|alpha|le|ge)\b|\$[^$\n]+\$|\^\{?\d")
_EXPR = re.compile(r"\d\s*[-+*/×÷=^]\s*\(?\d|\b\d+\s*%|[xyn]\s*[=<>]\s*-?\d")
_MATH_WORDS = re.compile(
    r"\b(?:solve|equation|integral|derivative|probability|prime|factors?|sum of|product of|how many|how much|"
    r"percent(?:age)?|remainder|divisible|calculate|compute|average|ratio|fraction|simplify|evaluate|"
    r"least common|greatest common|area|perimeter|volume|digits?|integers?|polynomial|exponent|"
    r"logarithm|modulo|theorem|matrix|vector)\b")
_NUMBER = re.compile(r"\d")


def detect_task(text: str) -> Task:
    """The task of ``text`` by the rules of the module docstring."""
    text = _ASY.sub(" ", text)  # a maths problem's diagram (Asymptote) is not a request for code
    low = text.lower()
    if _FENCE.search(text) or len(_CODE_LINE.findall(text)) >= 2 or _CODE_ASK.search(low):
        return "code"
    if _LATEX.search(text) or _EXPR.search(low) or (_MATH_WORDS.search(low) and _NUMBER.search(low)):
        return "math"
    if _LANG.search(low) and re.search(r"\b(?:how do i|how to|error|exception|bug)\b", low):
        return "code"
    return "other"
