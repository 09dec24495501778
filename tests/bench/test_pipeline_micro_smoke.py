"""bench/pipeline_micro.py runs the pipeline as served and reports a cost per request (nothing here is timed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import pipeline_micro  # noqa: E402

from classifiers.logreg import load_classifier  # noqa: E402


def test_the_zero_model_scores_every_text_alike_without_scoring_work(tmp_path: Path) -> None:
    d = pipeline_micro.zero_model(tmp_path)
    assert orjson.loads((d / "model.json").read_bytes())["features"] == ["embedding"]
    clf = load_classifier(d)
    scores = clf.score(["Hi!", "Prove that there are infinitely many primes.", ""])
    assert scores.tolist() == [scores[0]] * 3 and abs(scores[0] - 0.1192) < 1e-3  # sigmoid(-2): tier small


def test_it_runs_the_auto_path_over_two_replicas_and_reports_cpu_per_request() -> None:
    out = subprocess.run([sys.executable, str(BENCH / "pipeline_micro.py"), "--auto", "--classifier", "zero",
                          "--two-replicas", "--concurrency", "4", "--requests", "200", "--warmup", "50"],
                         capture_output=True, text=True, check=True, timeout=120)
    assert re.search(r"auto, 4 in flight: [\d.]+ µs of CPU per request \(200 requests", out.stdout), out.stdout
