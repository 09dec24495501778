"""Focus text (few-shot question extraction) and the cheap text features."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.features import FEATURE_NAMES, blocks, feature_matrix, focus_text, text_features

ARC_STYLE = "\n\n".join(
    [f"Question {i}?\nA) x\nB) y\nPrint only a single choice.\nAnswer:\n{'AB'[i % 2]}" for i in range(3)]
    + ["Which gas do plants absorb?\nA) oxygen\nB) carbon dioxide\nPrint only a single choice.\nAnswer:"])
WINO_STYLE = "\n\n".join(
    ["Please answer with the letter.", "Tom beat Ed because _ was faster.\nA) Tom\nB) Ed\nAnswer:\nA",
     "Please answer with the letter.", "Ann met Bo since _ was lost.\nA) Ann\nB) Bo\nAnswer:\nB",
     "Please answer with the letter.", "The cup broke the vase because _ was hard.\nA) cup\nB) vase\nAnswer:"])


def feature(text: str, name: str) -> float:
    return float(text_features(text)[FEATURE_NAMES.index(name)])


def test_blocks_split_on_blank_lines() -> None:
    assert blocks("a\n\n  \nb\r\n\r\nc\nd\n\n") == ["a", "b", "c\nd"]
    assert blocks("") == []


def test_focus_is_the_last_block_of_a_few_shot_prompt() -> None:
    assert focus_text(ARC_STYLE).startswith("Which gas do plants absorb?")
    assert focus_text(WINO_STYLE).startswith("The cup broke the vase")


@pytest.mark.parametrize("text", [
    "What is 2 + 2?",
    "Summarise this:\n\nA long document.\n\nWith paragraphs.",
    "Intro\n\nAnswer: yes\n\nAnswer:",  # the cue is answered only once before
    "",
])
def test_focus_is_the_whole_text_otherwise(text: str) -> None:
    assert focus_text(text) == text


def test_features_shape_names_and_finite() -> None:
    X = feature_matrix(["", "hello", ARC_STYLE, "```python\ndef f(x):\n    return x\n```"])
    assert X.shape == (4, len(FEATURE_NAMES)) and np.all(np.isfinite(X))
    assert feature_matrix([]).shape == (0, len(FEATURE_NAMES))


def test_feature_values() -> None:
    assert feature("What is the capital of France?", "question") == 1.0
    assert feature("What is the capital of France?", "wh_start") == 1.0
    assert feature("Write a poem about rain", "imperative") == 1.0
    assert feature("def f(x):\n    return {x: [1]}", "code") > feature("a plain sentence about cats", "code")
    assert feature("Solve 3x + 4 = 10 and prove it", "math") > feature("a plain sentence", "math")
    assert feature(ARC_STYLE, "options") == 1.0 and feature("no options", "options") == 0.0
    assert feature(ARC_STYLE, "log_chars") < feature(ARC_STYLE, "log_chars_full")  # focus vs whole prompt
    assert feature(ARC_STYLE, "log_blocks_full") == pytest.approx(np.log1p(4))
    assert feature("", "type_token") == 1.0 and feature("a a a a", "type_token") == 0.25
    assert 0.0 <= feature("x" * 10_000 + "{}" * 5_000, "code") <= 1.0
