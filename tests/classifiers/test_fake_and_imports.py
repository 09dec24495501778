from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from classifiers.base import Classifier, check_scores
from classifiers.embed import Embedder
from classifiers.fake import ConstantClassifier, FunctionClassifier, HashEmbedder


def test_fakes_follow_the_protocols() -> None:
    clf = FunctionClassifier(lambda t: 0.25)
    assert isinstance(clf, Classifier) and isinstance(ConstantClassifier(0.1), Classifier)
    np.testing.assert_array_equal(clf.score(["a", "b"]), [0.25, 0.25])
    assert clf.batch_sizes == [2] and clf.batches == [["a", "b"]]
    with pytest.raises(ValueError):
        ConstantClassifier(1.5)
    emb = HashEmbedder(dim=16)
    assert isinstance(emb, Embedder)
    v = emb.encode(["some words here", ""])
    assert v.shape == (2, 16) and np.linalg.norm(v[0]) == pytest.approx(1.0) and not v[1].any()


def test_check_scores() -> None:
    np.testing.assert_array_equal(check_scores(np.array([0.0, 1.0]), 2), [0.0, 1.0])
    for bad, n in ((np.array([0.5]), 2), (np.array([np.nan]), 1), (np.array([-0.1]), 1)):
        with pytest.raises(ValueError):
            check_scores(bad, n)


def test_light_modules_do_not_import_heavy_libraries() -> None:
    code = ("import sys, classifiers, classifiers.base, classifiers.batching, classifiers.text, classifiers.embed, "
            "classifiers.logreg, classifiers.featurize, classifiers.training.data, classifiers.training.evaluate, "
            "classifiers.training.train, classifiers.training.cli, classifiers.training.recipe; "
            "print(sorted(m for m in ('torch', 'sentence_transformers', 'sklearn', 'transformers') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
