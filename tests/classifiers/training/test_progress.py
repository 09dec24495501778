"""Progress bars for offline commands: same results in chunks; silent when stderr is not a terminal."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.training.progress import in_chunks, progress


def test_in_chunks_gives_the_same_rows(capsys: pytest.CaptureFixture[str]) -> None:
    items = [f"prompt {i}" for i in range(1300)]
    calls: list[int] = []

    def score(batch):
        calls.append(len(batch))
        return np.array([[len(t), i] for i, t in enumerate(batch)], dtype=float)

    got = in_chunks(score, items, desc="scoring", size=512)
    assert calls == [512, 512, 276] and got.shape == (1300, 2)
    assert got[:, 0].tolist() == [len(t) for t in items]
    assert list(progress(range(3), desc="x")) == [0, 1, 2]
    assert capsys.readouterr().err == ""  # not a terminal: no bar
