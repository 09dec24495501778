"""The explanation's parts add up to the score the proxy computes, for the shipped model."""

from __future__ import annotations

import pytest

from classifiers.explain import explain
from classifiers.logreg import load_classifier


@pytest.fixture(scope="module")
def shipped():
    return load_classifier()


@pytest.mark.parametrize("text", ["Hi!", "Prove that the square root of 2 is irrational, step by step.",
                                  "def f(x):\n    return x ** 2  # why is this slow on big lists?", ""])
def test_parts_add_up_to_the_served_score(shipped, text: str) -> None:
    e = explain(shipped, text)
    assert e.score == pytest.approx(float(shipped.score([text])[0]), abs=1e-9)
    assert e.parts[-1].what == "intercept"
    top = e.top(5)
    assert [abs(p.logit) for p in top] == sorted((abs(p.logit) for p in top), reverse=True)


def test_ngrams_are_named(shipped) -> None:
    e = explain(shipped, "Prove that the square root of 2 is irrational.")
    assert any(p.what.startswith("n-gram ") and "'prove'" in p.what for p in e.parts)
