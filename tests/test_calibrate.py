"""`tierroute calibrate`: thresholds for a share or a PGR, and writing them into a policy in place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from router.calibrate import calibrate_scores, write_threshold
from router.errors import PolicyError

ROOT = Path(__file__).resolve().parents[1]


def test_strong_fraction() -> None:
    scores = np.linspace(0, 1, 1001)
    c = calibrate_scores(scores, strong_fraction=0.3)
    assert c.threshold == pytest.approx(0.7) and c.strong_fraction == pytest.approx(0.3, abs=0.002)
    assert c.pgr is None


def test_target_pgr_on_labelled_data() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    gain = rng.random(n) < 0.3  # 30% of prompts need the strong model
    weak = np.where(gain, 0.0, 1.0)
    strong = np.ones(n)
    scores = np.where(gain, rng.uniform(0.5, 1, n), rng.uniform(0, 0.6, n))  # informative, imperfect
    c = calibrate_scores(scores, target_pgr=0.8, weak=weak, strong=strong)
    assert c.pgr is not None and c.pgr >= 0.78
    assert 0.2 < c.strong_fraction < 0.35  # far fewer strong calls than the 80% a random router needs
    with pytest.raises(ValueError, match="labelled"):
        calibrate_scores(scores, target_pgr=0.8)


def test_write_keeps_every_other_byte(tmp_path: Path) -> None:
    path = tmp_path / "policies.yaml"
    original = (ROOT / "policies.yaml").read_text()
    path.write_text(original)
    assert write_threshold(path, 0, 0.31234) == "0.45"
    new = path.read_text()
    changed = [(a, b) for a, b in zip(original.splitlines(), new.splitlines(), strict=True) if a != b]
    assert changed == [("    - {tier: small, below: 0.45}", "    - {tier: small, below: 0.3123}")]


def test_write_refuses_invalid_results(tmp_path: Path) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text((ROOT / "policies.yaml").read_text())
    with pytest.raises(PolicyError, match="must increase"):
        write_threshold(path, 0, 0.9)  # above the next bound
    with pytest.raises(PolicyError, match="boundary 2"):
        write_threshold(path, 2, 0.5)
    assert path.read_text() == (ROOT / "policies.yaml").read_text()
