"""Choosing which samples get exact LinFiK labels, and calling the labeller."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from valuation.engine.data import Sample

__all__ = [
    "LabelFn",
    "call_label_fn",
    "length_strata",
    "resolve_strata",
    "round_half_up",
    "stratified_selection",
]

LabelFn = Callable[[Sequence[int]], np.ndarray]


def length_strata(samples: Sequence[Sample], n_buckets: int = 4) -> np.ndarray:
    """Quantile buckets of word count ("length-q0" shortest ... ), used when no strata are given."""
    return quantile_strata([len(sample.display_text.split()) for sample in samples], n_buckets)


def quantile_strata(lengths: Sequence[float] | np.ndarray, n_buckets: int = 4) -> np.ndarray:
    """Quantile buckets of ``lengths``, named "length-q0" (shortest) ... "length-q<n-1>"."""
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be at least 1, got {n_buckets}")
    lengths = np.asarray(lengths, dtype=np.float64)
    edges = np.quantile(lengths, np.linspace(0.0, 1.0, n_buckets + 1)[1:-1])
    buckets = np.searchsorted(edges, lengths, side="right")
    names = np.array([f"length-q{bucket}" for bucket in range(n_buckets)], dtype=object)
    return names[buckets]  # references to n_buckets shared strings: 8 bytes per sample


def round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _allocate(sizes: dict[str, int], n_label: int) -> dict[str, int]:
    """Labels per stratum: one each when possible, the rest by largest remainder on spare size."""
    names = sorted(sizes)
    if n_label < len(names):
        # Too few labels for every stratum: cover the largest ones (name breaks ties).
        covered = sorted(names, key=lambda name: (-sizes[name], name))[:n_label]
        return {name: int(name in covered) for name in names}
    spare = {name: sizes[name] - 1 for name in names}
    extra = n_label - len(names)
    total_spare = sum(spare.values())
    quotas = {name: extra * spare[name] / total_spare if total_spare else 0.0 for name in names}
    counts = {name: 1 + math.floor(quotas[name]) for name in names}
    leftover = n_label - sum(counts.values())
    by_remainder = sorted(names, key=lambda name: (-(quotas[name] % 1.0), name))
    for name in by_remainder[:leftover]:
        counts[name] += 1
    return counts


def stratified_selection(strata: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a stratified random ``fraction`` of the pool (round half up, >= 1).

    Every stratum gets at least one label when there are enough labels; the rest are
    spread in proportion to stratum size. Deterministic given ``seed``, and each stratum
    takes a prefix of one seeded shuffle, so raising the fraction keeps the labels already
    paid for (nested selections, barring a rare largest-remainder reshuffle).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label_fraction must be in (0, 1], got {fraction}")
    labels = np.asarray([str(label) for label in strata], dtype=object)
    if labels.size == 0:
        raise ValueError("cannot select labels from an empty pool")
    n_label = min(labels.size, max(1, round_half_up(fraction * labels.size)))
    members = {name: np.flatnonzero(labels == name) for name in sorted(set(labels.tolist()))}
    counts = _allocate({name: len(rows) for name, rows in members.items()}, n_label)
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(rows)[: counts[name]] for name, rows in members.items()]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def call_label_fn(label_fn: LabelFn, indices: np.ndarray) -> np.ndarray:
    labels = np.asarray(label_fn([int(index) for index in indices]), dtype=np.float64)
    if labels.shape != (len(indices),):
        raise ValueError(
            f"label_fn returned shape {labels.shape} for {len(indices)} indices; "
            "it must return one exact score per index"
        )
    bad = np.flatnonzero(~np.isfinite(labels))
    if bad.size:
        raise ValueError(f"label_fn returned a non-finite score for sample index {indices[bad[0]]}")
    return labels


def resolve_strata(samples: Sequence[Sample], strata: Sequence[str] | None) -> np.ndarray:
    if strata is None:
        return length_strata(samples)
    if len(strata) != len(samples):
        raise ValueError(f"{len(strata)} strata labels for {len(samples)} samples")
    return np.asarray([str(label) for label in strata], dtype=object)
