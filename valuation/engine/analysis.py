"""Stability of per-sample gradients across checkpoints.

LinFiK scores at one checkpoint stand in for a sample's future influence only if its
gradient changes slowly as training goes on. Two checks, both between a scorer at
checkpoint A and one at checkpoint B over the same samples and parameter names:

* direction stability: cos(grad_A l(z), grad_B l(z)) per sample;
* norm-order stability: Spearman correlation of per-sample gradient norms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr

from valuation.engine.data import Sample, TokenizedSample
from valuation.engine.exact import ExactLinFiK, Params

SampleLike = Sample | TokenizedSample
NORM_METHODS = ("vmap", "loop")


def _squared_norms(grads: Params) -> torch.Tensor:
    """Per-row squared norm over all parameters of batched gradients, float64, [b]."""
    return sum(g.double().flatten(1).pow(2).sum(dim=1) for g in grads.values())


def per_sample_gradient_norms(
    scorer: ExactLinFiK,
    samples: Sequence[SampleLike],
    *,
    method: str = "vmap",
    chunk_size: int | None = None,
) -> np.ndarray:
    """||grad l(z)|| for each sample, float64, in input order (vmap batches or a loop)."""
    if method not in NORM_METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {NORM_METHODS}")
    norms = np.empty(len(samples), dtype=np.float64)
    if method == "loop":
        for index, sample in enumerate(samples):
            grads = {n: g[None] for n, g in scorer.sample_gradient(sample).items()}
            norms[index] = float(_squared_norms(grads).sqrt())
        return norms
    for indices, grads in scorer.per_sample_gradients(samples, chunk_size=chunk_size):
        norms[indices] = _squared_norms(grads).sqrt().cpu().numpy()
    return norms


def _check_same_parameters(first: ExactLinFiK, second: ExactLinFiK) -> None:
    shapes_a = {n: tuple(p.shape) for n, p in first.params.items()}
    shapes_b = {n: tuple(p.shape) for n, p in second.params.items()}
    if shapes_a != shapes_b:
        differing = sorted(set(shapes_a.items()) ^ set(shapes_b.items()))[:3]
        raise ValueError(f"checkpoints score different parameters, e.g. {differing}")


def gradient_cosines(
    first: ExactLinFiK,
    second: ExactLinFiK,
    samples: Sequence[SampleLike],
    *,
    chunk_size: int | None = None,
) -> np.ndarray:
    """cos(grad_A l(z), grad_B l(z)) for each sample, float64, in input order.

    A sample whose gradient is zero at either checkpoint gets NaN.
    """
    _check_same_parameters(first, second)
    cosines = np.empty(len(samples), dtype=np.float64)
    batches_a = first.per_sample_gradients(samples, chunk_size=chunk_size)
    batches_b = second.per_sample_gradients(samples, chunk_size=chunk_size)
    for (indices, grads_a), (indices_b, grads_b) in zip(batches_a, batches_b, strict=True):
        if indices != indices_b:
            raise ValueError("checkpoints batch samples differently; use the same max_length")
        dots = sum(
            (
                grads_a[n].double().flatten(1)
                * grads_b[n].double().flatten(1).to(grads_a[n].device)
            ).sum(dim=1)
            for n in grads_a
        )
        denominators = (_squared_norms(grads_a) * _squared_norms(grads_b).to(dots.device)).sqrt()
        batch_cosines = torch.where(denominators > 0, dots / denominators, torch.nan)
        cosines[indices] = batch_cosines.cpu().numpy()
    return cosines


def rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman rank correlation of two equally long score or norm vectors."""
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if first.shape != second.shape or first.ndim != 1 or len(first) < 2:
        raise ValueError(
            f"need two 1-D vectors of equal length >= 2, got {first.shape}, {second.shape}"
        )
    return float(spearmanr(first, second).statistic)


@dataclass(frozen=True)
class StabilityReport:
    """Gradient stability between checkpoints A and B over the same samples."""

    cosines: np.ndarray
    norms_a: np.ndarray
    norms_b: np.ndarray

    @property
    def mean_cosine(self) -> float:
        return float(np.nanmean(self.cosines))

    @property
    def norm_spearman(self) -> float:
        return rank_correlation(self.norms_a, self.norms_b)


def checkpoint_stability(
    first: ExactLinFiK,
    second: ExactLinFiK,
    samples: Sequence[SampleLike],
    *,
    chunk_size: int | None = None,
) -> StabilityReport:
    """Direction and norm-order stability of per-sample gradients between two checkpoints."""
    return StabilityReport(
        cosines=gradient_cosines(first, second, samples, chunk_size=chunk_size),
        norms_a=per_sample_gradient_norms(first, samples, chunk_size=chunk_size),
        norms_b=per_sample_gradient_norms(second, samples, chunk_size=chunk_size),
    )
