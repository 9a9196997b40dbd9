"""Slow, explicit reference scorers that ``ExactLinFiK.score`` is checked against.

``score_vmap`` (torch.func per-sample gradients) and ``score_loop`` (batch-size-1 backward
passes, as LESS and RapidIn do) materialise every per-sample gradient; ``one_step_oracle``
measures the definition itself: the target loss decrease after one SGD step.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from valuation.engine.data import Sample, TokenizedSample
from valuation.engine.exact import ExactLinFiK, TargetGradient, dot_params

__all__ = ["one_step_oracle", "score_loop", "score_vmap"]


def score_vmap(
    scorer: ExactLinFiK,
    samples: Sequence[Sample | TokenizedSample],
    target: TargetGradient,
    *,
    chunk_size: int | None = None,
) -> np.ndarray:
    """Materialise per-sample gradients with vmap, then dot with g_T."""
    tangents = scorer.tangents(target)
    scores = np.empty(len(samples), dtype=np.float64)
    for indices, grads in scorer.per_sample_gradients(samples, chunk_size=chunk_size):
        scores[indices] = dot_params(grads, tangents).double().cpu().numpy()
    return scores


def score_loop(
    scorer: ExactLinFiK, samples: Sequence[Sample | TokenizedSample], target: TargetGradient
) -> np.ndarray:
    """One backward pass per sample (batch size 1), then dot with g_T."""
    tangents = scorer.tangents(target)
    iterator = tqdm(samples, desc="LinFiK (loop)", file=sys.stderr, disable=not scorer.progress)
    return np.array(
        [float(dot_params(scorer.sample_gradient(s), tangents)) for s in iterator],
        dtype=np.float64,
    )


def one_step_oracle(
    scorer: ExactLinFiK,
    sample: Sample | TokenizedSample,
    targets: Sequence[Sample | TokenizedSample],
    lr: float,
) -> float:
    """(L_T(theta) - L_T(theta - lr * grad l(z))) / lr, which tends to LinFiK(z) as lr -> 0."""
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    step = scorer.sample_gradient(sample)
    stepped = {name: p - lr * step[name] for name, p in scorer.primals().items()}
    before = scorer.losses(targets).mean()
    after = scorer.losses(targets, stepped).mean()
    return float((before - after) / lr)
