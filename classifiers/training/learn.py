"""``tierroute learn``: retrain the classifier on labels from traffic; promote only a better model.

The sidecar runs beside the proxies (``serve --learn`` starts it as a child on one box) and
talks to them through two things only: the label store it reads (the labels every proxy writes,
docs/learning.md) and the model registry it writes (:mod:`classifiers.registry`; every proxy
follows its ``CURRENT``). It never runs on a proxy's event loop.

One round (:meth:`Learner.step`, every ``interval_s``):

1. Read every label. A label is usable when its features were made with this featurizer's
   spec (or it kept its prompt, which is featurized again); the others are counted, not used.
2. Wait until ``min_new_labels`` usable labels arrived since the last round that trained.
3. Hold out by time: the newest ``holdout`` share of the labels (at least ``min_holdout``) is
   the evaluation set; the older ones train.
4. The challenger is made by one of the recipes of :mod:`classifiers.training.adapt`: the start model
   (the registry's initial version) corrected by the training labels (``correct``,
   ``correct-all``; needs no training data), the shipped data refitted with the labels weighted
   up (``refit``; only with a data directory), or the labels alone. Which one, and how strongly
   it holds to the start model, is chosen each round by inner cross-validation over the training
   labels (once there are ``MIN_FOR_CHOICE``; before that the default, a correction).
5. Champion (the model ``CURRENT`` names) and challenger score the held-out labels from their
   features. Quality on a label is ``1 - target`` on the cheap side and 1 on the strong side,
   so APGR (RouteLLM's protocol, :mod:`classifiers.training.evaluate`) measures how well a model ranks
   the prompts that needed a stronger tier. A paired bootstrap (``BOOTSTRAP`` resamples of the
   held-out labels) gives a 90 % interval of the difference.
6. The challenger is stored either way (``tierroute model list`` shows its numbers). It is
   promoted when it beats the champion by at least ``margin`` APGR; otherwise the refusal is
   recorded. Both go to the registry's history and the log with their numbers.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..feature_arrays import FeatureArrays
from ..registry import Registry
from .adapt import Recipe, Trainer, compatible, label_apgr

log = logging.getLogger("tierroute.learn")

MIN_FOR_CHOICE = 300
BOOTSTRAP = 500
QUANTILES = 101


@dataclass(frozen=True)
class LearnConfig:
    models_dir: str
    data_dir: str | None = None  # the shipped default's training data (../shared/data); None: labels only
    exclude: tuple[str, ...] = ()
    start_model: str | None = None  # registered and promoted first when the registry is empty
    min_new_labels: int = 200
    holdout: float = 0.2
    min_holdout: int = 50
    margin: float = 0.01
    recipe: Recipe | None = None  # None: chosen by time-split validation
    interval_s: float = 5.0
    seed: int = 0


@dataclass
class Round:
    """What one round did (also the numbers in the history and the log line)."""

    labels: int
    train_labels: int
    holdout_labels: int
    recipe: Recipe
    champion: str | None
    challenger: str
    champion_apgr: float
    challenger_apgr: float
    diff_ci90: tuple[float, float]
    promoted: bool
    seconds: float
    skipped_labels: int = 0

    def numbers(self) -> dict[str, Any]:
        return {"labels": self.labels, "train_labels": self.train_labels, "holdout_labels": self.holdout_labels,
                "recipe": str(self.recipe), "champion": self.champion,
                "champion_apgr": round(self.champion_apgr, 4), "challenger_apgr": round(self.challenger_apgr, 4),
                "diff_ci90": [round(x, 4) for x in self.diff_ci90], "seconds": round(self.seconds, 2),
                "skipped_labels": self.skipped_labels}


@dataclass
class LabelRows:
    features: FeatureArrays
    targets: np.ndarray
    ts: np.ndarray
    skipped: int = 0


@dataclass
class Learner:
    cfg: LearnConfig
    read_labels: Callable[[], list[dict[str, Any]]]
    registry: Registry = field(init=False)
    trained_at_labels: int = 0
    rounds: list[Round] = field(default_factory=list)

    def __post_init__(self) -> None:
        from ..featurize import Featurizer

        self.registry = Registry(self.cfg.models_dir)
        self.featurizer = Featurizer.load()
        self._base: Any = None
        self._prior: tuple[str, Any] | None = None

    def ensure_champion(self) -> str:
        """The promoted version; registers and promotes the start model (or the shipped one) if none."""
        current = self.registry.current()
        if current is not None:
            return current
        from ..logreg import default_model_dir

        src = Path(self.cfg.start_model) if self.cfg.start_model else default_model_dir()
        version = self.registry.add(src, {"source": str(src), "kind": "start"})
        self.registry.promote(version, event="initial", source=str(src))
        log.info("model initial", extra={"version": version, "source": str(src)})
        return version

    def base(self) -> Any:
        """The shipped default's training rows as features (cached on disk by the recipe)."""
        if self._base is None and self.cfg.data_dir:
            from .recipe import training_set

            self._base = training_set(self.cfg.data_dir, self.cfg.exclude, featurizer=self.featurizer)
        return self._base

    def trainer(self) -> Trainer:
        """Makes this round's models: the start model (the registry's initial version) as the prior
        when it reads this featurizer's features, the base set when there is a data directory."""
        from ..logreg import LogRegModel

        version = self.registry.initial() or self.ensure_champion()
        if self._prior is None or self._prior[0] != version:
            try:
                model: Any = LogRegModel.load(self.registry.path(version))
            except ValueError as e:
                log.warning("start model unreadable: no correct recipe", extra={"version": version, "error": str(e)})
                model = None
            self._prior = (version, model if compatible(model, self.featurizer) else None)
        return Trainer(self.featurizer, prior=self._prior[1], base=self.base(), seed=self.cfg.seed)

    def usable(self, labels: Sequence[dict[str, Any]]) -> LabelRows:
        """Labels as arrays, oldest first; labels of another feature spec without a prompt are skipped."""
        spec = self.featurizer.spec
        feats: list[dict[str, Any]] = []
        targets: list[float] = []
        ts: list[float] = []
        to_embed: list[tuple[int, str]] = []
        skipped = 0
        for label in sorted(labels, key=lambda lb: float(lb.get("ts") or 0.0)):
            target = label.get("target")
            if not isinstance(target, (int, float)) or not 0.0 <= float(target) <= 1.0:
                skipped += 1
                continue
            f = label.get("features")
            label_spec = (label.get("extra") or {}).get("feature_spec")
            if isinstance(f, dict) and label_spec in (None, spec):
                feats.append(f)
            elif isinstance(label.get("prompt"), str):
                to_embed.append((len(feats), label["prompt"]))
                feats.append({})
            else:
                skipped += 1
                continue
            targets.append(float(target))
            ts.append(float(label.get("ts") or 0.0))
        if to_embed:
            fresh = self.featurizer.features([p for _, p in to_embed])
            for (i, _), f in zip(to_embed, fresh, strict=True):
                feats[i] = f
        return LabelRows(FeatureArrays.from_dicts(feats, self.featurizer.dim), np.asarray(targets),
                         np.asarray(ts), skipped)

    def step(self) -> Round | None:
        """One round (module docstring); None when not enough new labels arrived."""
        champion = self.ensure_champion()
        rows = self.usable(self.read_labels())
        n = len(rows.targets)
        if n - self.trained_at_labels < self.cfg.min_new_labels or n < 2 * self.cfg.min_holdout:
            return None
        started = time.monotonic()
        n_hold = max(self.cfg.min_holdout, int(round(self.cfg.holdout * n)))
        train_idx, hold_idx = np.arange(n - n_hold), np.arange(n - n_hold, n)
        trainer = self.trainer()
        recipe = self.cfg.recipe or self._choose_recipe(trainer, rows, train_idx)
        model = trainer.make(recipe, rows.features.take(train_idx), rows.targets[train_idx])
        hold = rows.features.take(hold_idx)
        challenger_scores = model.score_arrays(hold)
        champion_scores = self._champion_scores(champion, hold)
        targets = rows.targets[hold_idx]
        ch, cc = label_apgr(challenger_scores, targets), label_apgr(champion_scores, targets)
        ci = _diff_ci(challenger_scores, champion_scores, targets, seed=self.cfg.seed)
        promoted = bool(np.isfinite(ch) and np.isfinite(cc) and ch - cc >= self.cfg.margin)
        quantiles = np.quantile(model.score_arrays(rows.features), np.linspace(0, 1, QUANTILES))
        version = self._store(model, {"kind": "challenger", "parent": champion, "score_quantiles": quantiles,
                                      "evaluation": {"challenger_apgr": ch, "champion_apgr": cc, "diff_ci90": ci,
                                                     "holdout_labels": int(n_hold)},
                                      "labels": n, "recipe": str(recipe)})
        rnd = Round(n, n - n_hold, n_hold, recipe, champion, version, cc, ch, ci,
                    promoted and version != champion, time.monotonic() - started, rows.skipped)
        if rnd.promoted:
            self.registry.promote(version, **rnd.numbers())
            log.info("model promoted", extra={"version": version, **rnd.numbers()})
        else:
            self.registry.record("refuse", version=version, **rnd.numbers())
            log.info("model refused", extra={"version": version, **rnd.numbers()})
        self.trained_at_labels = n
        self.rounds.append(rnd)
        return rnd

    def _choose_recipe(self, trainer: Trainer, rows: LabelRows, train_idx: np.ndarray) -> Recipe:
        """The candidate recipe that ranks the training labels best out of fold (:meth:`Trainer.choose`)."""
        if len(train_idx) < MIN_FOR_CHOICE or len(trainer.candidates()) == 1:
            return trainer.default()
        recipe, scores = trainer.choose(rows.features, rows.targets, train_idx)
        log.info("recipe chosen", extra={"recipe": str(recipe), "candidates": scores})
        return recipe

    def _champion_scores(self, version: str, feats: FeatureArrays) -> np.ndarray:
        from ..logreg import load_classifier

        model = load_classifier(self.registry.path(version))
        return np.asarray(model.score_features(feats), dtype=np.float64)  # type: ignore[attr-defined]

    def _store(self, model: Any, meta: dict[str, Any]) -> str:
        from .recipe import save_model

        with tempfile.TemporaryDirectory() as tmp:
            save_model(model, self.featurizer, tmp)
            return self.registry.add(tmp, meta)


def _diff_ci(a: np.ndarray, b: np.ndarray, targets: np.ndarray, *, seed: int) -> tuple[float, float]:
    """90 % paired-bootstrap interval of APGR(a) - APGR(b)."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(targets), len(targets))
        d = label_apgr(a[i], targets[i]) - label_apgr(b[i], targets[i])
        if np.isfinite(d):
            diffs.append(d)
    if not diffs:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(diffs, [0.05, 0.95])
    return float(lo), float(hi)
