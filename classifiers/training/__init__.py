"""Making and judging classifiers: fit, cross-validate, evaluate, distil, learn from labels.

Offline code (``tierroute train``, ``eval``, ``eval-tiers``, ``train-default``, ``calibrate``, the
``learn`` sidecar): it reads the training data, and several modules need the ``tierroute[train]``
extra (scikit-learn, torch, sentence-transformers). The proxy never imports this package at
serve time; what it serves with (load, features, score) is the rest of :mod:`classifiers`.
"""
