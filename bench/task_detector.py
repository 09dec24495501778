"""Accuracy of the task detector (classifiers/task.py) on prompts labelled by their source.

    .venv/bin/python bench/task_detector.py [--data-dir ../shared/data]

Labels (the source says what a prompt is): code = RouterBench's MBPP rows; math = GSM8K train,
MATH prealgebra and MMLU-Pro's maths questions; other = RouterBench's ARC-Challenge and
WinoGrande rows and AlpacaEval. Prints a confusion table and per-class precision/recall and
writes docs/benchmarks/task_detector.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classifiers.task import TASKS, detect_task  # noqa: E402


def labelled(data: Path) -> list[tuple[str, str, str]]:
    """(source, label, prompt) rows."""
    rows: list[tuple[str, str, str]] = []

    def read(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.open() if line.strip()]

    for r in read(data / "routerbench0shot_mistral7b_vs_gpt4.jsonl"):
        task = r["task"].split("/")[0]
        label = {"mbpp": "code", "arc-challenge": "other", "winogrande": "other"}.get(task)
        if label:
            rows.append((task, label, r["prompt"]))
    for name in ("routerdc_gsm8k_train.jsonl", "routerdc_math_prealgebra.jsonl"):
        rows += [(name.split(".")[0], "math", r["prompt"]) for r in read(data / "multimodel" / name)]
    rows += [("mmlupro/math", "math", r["prompt"]) for r in read(data / "multimodel" / "mmlupro.jsonl")
             if r.get("category") == "math"]
    rows += [("alpaca_eval", "other", r["prompt"]) for r in read(data / "alpaca_eval_mixtral_vs_gpt4turbo.jsonl")]
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(REPO / "docs" / "benchmarks" / "task_detector"))
    ns = ap.parse_args()
    rows = labelled(Path(ns.data_dir))
    confusion: Counter[tuple[str, str]] = Counter()
    by_source: dict[str, Counter[str]] = {}
    for source, label, prompt in rows:
        got = detect_task(prompt)
        confusion[label, got] += 1
        by_source.setdefault(source, Counter())[got] += 1
    per_class = {}
    for t in TASKS:
        tp = confusion[t, t]
        predicted = sum(confusion[a, t] for a in TASKS)
        actual = sum(confusion[t, b] for b in TASKS)
        per_class[t] = {"n": actual, "precision": tp / predicted if predicted else None,
                        "recall": tp / actual if actual else None}
    accuracy = sum(confusion[t, t] for t in TASKS) / len(rows)
    doc = {"rows": len(rows), "accuracy": accuracy, "per_class": per_class,
           "confusion": {f"{a}->{b}": n for (a, b), n in sorted(confusion.items())},
           "by_source": {s: dict(c) for s, c in by_source.items()}}
    lines = ["# Task detector accuracy", "", f"`bench/task_detector.py`: {len(rows)} prompts labelled by source, "
             f"accuracy **{accuracy:.3f}**.", "", "| label | n | precision | recall |", "|---|---:|---:|---:|"]
    lines += [f"| {t} | {v['n']} | {v['precision']:.3f} | {v['recall']:.3f} |" for t, v in per_class.items()]
    lines += ["", "| source | " + " | ".join(TASKS) + " |", "|---|" + "---:|" * len(TASKS)]
    lines += [f"| {s} | " + " | ".join(str(c[t]) for t in TASKS) + " |" for s, c in by_source.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(ns.out)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
