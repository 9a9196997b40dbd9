"""Cutting the labels into train / validation / holdout splits and training one head per
split: one split (``folds=1``) or cross-fitted members whose mean scores the pool, each
label predicted by the members that never saw it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from valuation.engine.heads import (
    EnsembleHead,
    HeadConfig,
    RegressionHead,
    TargetScaler,
    feature_statistics,
)
from valuation.engine.labels import round_half_up
from valuation.engine.training import TrainConfig, TrainingReport, single_thread, train_head

__all__ = [
    "CROSS_FIT_VALIDATION",
    "DEFAULT_FOLDS",
    "DEFAULT_REPEATS",
    "DEFAULT_SPLIT",
    "MIN_LABELS",
    "HeadFit",
    "LabelSplit",
    "cross_fit_splits",
    "fit_head",
    "label_splits",
    "split_labelled",
]

# Train, validation and holdout each need at least two items for a rank correlation.
MIN_LABELS = 6
DEFAULT_SPLIT = (0.6, 0.2, 0.2)
# Five cross-fitted members beat one split on the demo pool (docs/benchmarks.md).
DEFAULT_FOLDS = 5
DEFAULT_REPEATS = 3  # rounds of cross-fitting (with folds > 1)
CROSS_FIT_VALIDATION = 0.25


@dataclass(frozen=True)
class LabelSplit:
    """Positions into the labelled set; holdout never takes part in training or stopping."""

    train: np.ndarray
    validation: np.ndarray
    holdout: np.ndarray


def split_labelled(
    n_labelled: int, seed: int, fractions: tuple[float, float, float] = DEFAULT_SPLIT
) -> LabelSplit:
    """Randomly split ``n_labelled`` positions into train / validation / holdout (>= 2 each)."""
    if n_labelled < MIN_LABELS:
        raise ValueError(
            f"ALinFiK needs at least {MIN_LABELS} labelled samples (2 each for train, "
            f"validation and holdout), got {n_labelled}; raise label_fraction or the pool size"
        )
    if len(fractions) != 3 or min(fractions) <= 0 or not math.isclose(sum(fractions), 1.0):
        raise ValueError(
            f"split fractions must be 3 positive numbers summing to 1, got {fractions}"
        )
    # A seed stream separate from the selection's, so the two draws are independent.
    order = np.random.default_rng([seed, 1]).permutation(n_labelled)
    n_validation = max(2, round_half_up(fractions[1] * n_labelled))
    n_holdout = max(2, round_half_up(fractions[2] * n_labelled))
    # Small pools: give train its two items back from the larger of the other parts.
    while n_labelled - n_validation - n_holdout < 2:
        if n_validation >= n_holdout:
            n_validation -= 1
        else:
            n_holdout -= 1
    n_train = n_labelled - n_validation - n_holdout
    return LabelSplit(
        train=np.sort(order[:n_train]),
        validation=np.sort(order[n_train : n_train + n_validation]),
        holdout=np.sort(order[n_train + n_validation :]),
    )


def cross_fit_splits(n_labelled: int, folds: int, seed: int, repeat: int = 0) -> list[LabelSplit]:
    """One split per member: fold k is its holdout, the rest its train and validation.

    Folds partition the labels (each is held out from exactly one member); every part has
    at least two items, so ``folds`` shrinks to ``n_labelled // 2`` on small label sets.
    Validation takes ``CROSS_FIT_VALIDATION`` of the rest, for early stopping. ``repeat``
    r > 0 shuffles afresh (repeat 0 is the shuffle of the seed alone).
    """
    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {folds}")
    if n_labelled < MIN_LABELS:
        raise ValueError(
            f"ALinFiK needs at least {MIN_LABELS} labelled samples, got {n_labelled}; "
            "raise label_fraction or the pool size"
        )
    stream = [seed, 1, repeat] if repeat else [seed, 1]
    order = np.random.default_rng(stream).permutation(n_labelled)
    parts = np.array_split(order, min(folds, n_labelled // 2))
    splits = []
    for k, holdout in enumerate(parts):
        rest = np.concatenate([part for j, part in enumerate(parts) if j != k])
        n_validation = min(max(2, round_half_up(CROSS_FIT_VALIDATION * len(rest))), len(rest) - 2)
        splits.append(
            LabelSplit(
                train=np.sort(rest[n_validation:]),
                validation=np.sort(rest[:n_validation]),
                holdout=np.sort(holdout),
            )
        )
    return splits


def label_splits(
    n_labelled: int,
    folds: int,
    seed: int,
    split_fractions: tuple[float, float, float] = DEFAULT_SPLIT,
    repeats: int = 1,
) -> list[LabelSplit]:
    """The splits a proxy's members train on, one each: one split by ``split_fractions``
    when folds is 1, else ``repeats`` rounds of ``cross_fit_splits``."""
    if folds < 1:
        raise ValueError(f"folds must be at least 1, got {folds}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if folds == 1:
        if repeats != 1:
            raise ValueError("repeats need cross-fitting: pass folds of 2 or more")
        return [split_labelled(n_labelled, seed, split_fractions)]
    return [
        split
        for repeat in range(repeats)
        for split in cross_fit_splits(n_labelled, folds, seed, repeat)
    ]


@dataclass(frozen=True)
class HeadFit:
    """A trained head (one, or cross-fitted members), its output scaler, and each label's
    prediction by a member that never saw it (NaN where every member trained on it)."""

    head: RegressionHead | EnsembleHead
    scaler: TargetScaler
    heldout: np.ndarray
    reports: list[TrainingReport]

    @property
    def report(self) -> TrainingReport:
        """All members at once: summed epochs and seconds, mean best validation Spearman."""
        if len(self.reports) == 1:
            return self.reports[0]
        return TrainingReport(
            best_epoch=max(report.best_epoch for report in self.reports),
            epochs_run=sum(report.epochs_run for report in self.reports),
            best_val_spearman=float(np.mean([r.best_val_spearman for r in self.reports])),
            seconds=sum(report.seconds for report in self.reports),
        )


def _member_seed(seed: int, member: int) -> int:
    return int(np.random.SeedSequence([seed, member]).generate_state(1)[0])


def fit_head(
    inputs: np.ndarray,
    labels: np.ndarray,
    splits: Sequence[LabelSplit],
    *,
    head_config: HeadConfig,
    config: TrainConfig,
    seed: int,
    input_statistics: tuple[np.ndarray, np.ndarray] | None = None,
) -> HeadFit:
    """Train one head per split on the labelled ``inputs`` rows (``label_splits``); several
    become one ``EnsembleHead``. ``input_statistics`` default to those of all ``inputs``
    (features only, no labels)."""
    inputs = np.asarray(inputs, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.float64)
    statistics = input_statistics or feature_statistics(inputs)
    member_config = replace(head_config, members=1)
    heads, scalers, reports = [], [], []
    heldout_sum, heldout_count = np.zeros(len(labels)), np.zeros(len(labels))
    for k, split in enumerate(splits):
        head, scaler, report = train_head(
            inputs[split.train],
            labels[split.train],
            inputs[split.validation],
            labels[split.validation],
            head_config=member_config,
            config=config,
            seed=seed if len(splits) == 1 else _member_seed(seed, k),
            input_statistics=statistics,
        )
        with torch.inference_mode(), single_thread():
            predicted = head(torch.from_numpy(inputs[split.holdout])).double().numpy()
        heldout_sum[split.holdout] += scaler.inverse(predicted)
        heldout_count[split.holdout] += 1
        heads.append(head)
        scalers.append(scaler)
        reports.append(report)
    # Each label's held-out prediction: the mean of the members that held it out.
    heldout = np.full(len(labels), np.nan)
    judged = heldout_count > 0
    heldout[judged] = heldout_sum[judged] / heldout_count[judged]
    if len(heads) == 1:
        return HeadFit(heads[0], scalers[0], heldout, reports)
    ensemble = EnsembleHead(replace(head_config, members=len(heads)))
    for target, source in zip(ensemble.members, heads, strict=True):
        target.load_state_dict(source.state_dict())
    # The output scaler only expresses the members' mean in z-units; it changes no score.
    output = TargetScaler.fit(labels)
    ensemble.set_scalers(scalers, output)
    return HeadFit(ensemble.eval(), output, heldout, reports)
