"""Rank-agreement metrics used to judge how well a proxy reproduces exact LinFiK scores.

Pure numpy/scipy, deterministic and tie-aware, so the fidelity figures a buyer sees
are reproducible to the last bit.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

__all__ = ["kendall_tau", "precision_at_k_fraction", "spearman", "top_k_count"]


def _paired_vectors(a: object, b: object, name: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"{name}: expected two 1-D arrays, got shapes {x.shape} and {y.shape}")
    if x.shape != y.shape:
        raise ValueError(f"{name}: length mismatch, {x.shape[0]} vs {y.shape[0]}")
    if x.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 paired values, got {x.shape[0]}")
    for label, values in (("first", x), ("second", y)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(f"{name}: {label} array has a non-finite value at index {bad[0]}")
    return x, y


def spearman(a: object, b: object) -> float:
    """Spearman's rho with average ranks for ties (matches ``scipy.stats.spearmanr``).

    Returns NaN when either input is constant, since no ordering exists to agree with.
    """
    x, y = _paired_vectors(a, b, "spearman")
    rx = stats.rankdata(x) - (x.shape[0] + 1) / 2.0
    ry = stats.rankdata(y) - (y.shape[0] + 1) / 2.0
    denominator = math.sqrt(float(rx @ rx) * float(ry @ ry))
    if denominator == 0.0:
        return math.nan
    return float(np.clip((rx @ ry) / denominator, -1.0, 1.0))


def kendall_tau(a: object, b: object) -> float:
    """Kendall's tau-b (tie-corrected); NaN when either input is constant.

    Delegates the O(n log n) pair counting to scipy, after our own input checks.
    """
    x, y = _paired_vectors(a, b, "kendall_tau")
    if np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    return float(stats.kendalltau(x, y, variant="b").statistic)


def top_k_count(n: int, fraction: float) -> int:
    """How many items "the top ``fraction``" of ``n`` means: round half up, at least 1."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    return max(1, math.floor(fraction * n + 0.5))


def precision_at_k_fraction(true: object, predicted: object, fraction: float = 0.1) -> float:
    """Fraction of the predicted top-k that belongs to the true top-k, k = top_k_count(n, fraction).

    Ties are handled without randomness:
    * truth: every item scoring at least the k-th largest true value counts as a true top item;
    * prediction: items above the k-th largest predicted value are selected, and the remaining
      slots are shared evenly among the items tied at that value (the expectation over random
      tie-breaking), so a constant prediction scores the base rate.
    """
    t, p = _paired_vectors(true, predicted, "precision_at_k_fraction")
    k = top_k_count(t.shape[0], fraction)
    is_true_top = t >= np.sort(t)[-k]
    threshold = np.sort(p)[-k]
    above = p > threshold
    tied = p == threshold
    open_slots = k - int(above.sum())
    hits = float(is_true_top[above].sum())
    hits += open_slots * float(is_true_top[tied].sum()) / float(tied.sum())
    return hits / k
