"""Experiment 7: the APGR cost of shipping the static embedding as int8 (vs float32), at 64 dims.

Distils MiniLM in memory (float32 vectors), encodes the focus views with both the float32
table and its int8 round trip, and evaluates the recipe with the embedding weight fixed at 1.
Run: ``HF_HUB_OFFLINE=1 .venv/bin/python -m bench.classifier_experiments.exp7_quantisation``.
"""

from __future__ import annotations

import numpy as np

from classifiers.features import focus_text
from classifiers.static import StaticEmbedder, quantize_rows
from classifiers.training.distill import distill_minilm

from .common import datasets, evaluate, fmt, labels
from .exp1_views import feats
from .models import logreg


def main() -> None:
    data = datasets()
    F = feats(data)
    fp32 = distill_minilm(64)
    q, s = quantize_rows(fp32._vectors)
    int8 = StaticEmbedder(fp32._tokenizer, q.astype(np.float32) * s[:, None], fp32.config)
    print("max abs vector error", float(np.abs(int8._vectors - fp32._vectors).max()), flush=True)
    for name, emb in (("float32", fp32), ("int8", int8)):
        E = {n: emb.encode([focus_text(r.prompt) for r in data[n]]) for n in ("train", "test", "mixtral")}
        E["gpt35"] = E["mixtral"]
        X = {n: np.hstack([E[n], F[n]]) for n in E}
        res = evaluate(logreg(scale_cols=slice(64, None), X_choose=X["train"], y_choose=labels(data["train"])),
                       X, data)
        print(f"static64 {name:8s} focus + features {fmt(res)}", flush=True)


if __name__ == "__main__":
    main()
