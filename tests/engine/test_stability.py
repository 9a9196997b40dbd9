"""Gradient stability tools (valuation.engine.analysis) against explicit computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from valuation.engine.analysis import (
    checkpoint_stability,
    gradient_cosines,
    per_sample_gradient_norms,
    rank_correlation,
)
from valuation.engine.exact import ExactLinFiK


def flat_gradient(scorer: ExactLinFiK, sample) -> torch.Tensor:
    return torch.cat([g.flatten() for g in scorer.sample_gradient(sample).values()])


def sgd_steps(scorer: ExactLinFiK, samples, lr: float, steps: int) -> None:
    """A later checkpoint: a few plain SGD steps on the mean loss of ``samples``."""
    for _ in range(steps):
        grads = [scorer.sample_gradient(s) for s in samples]
        with torch.no_grad():
            for name, param in scorer.params.items():
                param -= lr * sum(g[name] for g in grads) / len(grads)


def test_gradient_norms_match_explicit_gradients(tiny_lm, train_samples) -> None:
    scorer = ExactLinFiK(tiny_lm.model, tiny_lm.tokenizer, batch_size=4)
    explicit = np.array([float(flat_gradient(scorer, s).norm()) for s in train_samples])
    for method in ("vmap", "loop"):
        norms = per_sample_gradient_norms(scorer, train_samples, method=method)
        np.testing.assert_allclose(norms, explicit, rtol=1e-6)
    assert np.all(explicit > 0)


def test_cosines_between_checkpoints_match_explicit_gradients(
    make_tiny_model, train_samples
) -> None:
    before, after = make_tiny_model("gpt2", seed=1), make_tiny_model("gpt2", seed=1)
    first = ExactLinFiK(before.model, before.tokenizer, batch_size=4)
    second = ExactLinFiK(after.model, after.tokenizer, batch_size=4)
    sgd_steps(second, train_samples, lr=0.5, steps=3)

    cosines = gradient_cosines(first, second, train_samples)
    explicit = []
    for sample in train_samples:
        a, b = flat_gradient(first, sample), flat_gradient(second, sample)
        explicit.append(float(a @ b / (a.norm() * b.norm())))
    np.testing.assert_allclose(cosines, explicit, rtol=1e-10)
    assert np.all(cosines < 1 - 1e-6)  # training really moved every gradient

    same = gradient_cosines(first, first, train_samples)
    np.testing.assert_allclose(same, 1.0, rtol=1e-12)


def test_checkpoint_stability_report(make_tiny_model, train_samples) -> None:
    before, after = make_tiny_model("llama", seed=2), make_tiny_model("llama", seed=2)
    first = ExactLinFiK(before.model, before.tokenizer)
    second = ExactLinFiK(after.model, after.tokenizer)
    sgd_steps(second, train_samples[:2], lr=0.2, steps=2)
    report = checkpoint_stability(first, second, train_samples)
    assert report.norms_a.shape == report.norms_b.shape == (len(train_samples),)
    expected = spearmanr(report.norms_a, report.norms_b).statistic
    assert report.norm_spearman == pytest.approx(expected)
    assert report.mean_cosine == pytest.approx(report.cosines.mean())
    assert -1 <= report.mean_cosine < 1


def test_checkpoints_must_score_the_same_parameters(tiny_gpt2, train_samples) -> None:
    full = ExactLinFiK(tiny_gpt2.model, tiny_gpt2.tokenizer)
    subset = ExactLinFiK(tiny_gpt2.model, tiny_gpt2.tokenizer, param_filter="lm_head|wte")
    with pytest.raises(ValueError, match="different parameters"):
        gradient_cosines(full, subset, train_samples)


def test_rank_correlation_values_and_errors() -> None:
    assert rank_correlation(np.array([1.0, 2, 3]), np.array([10.0, 20, 30])) == 1.0
    assert rank_correlation(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == -1.0
    with pytest.raises(ValueError, match="equal length"):
        rank_correlation(np.array([1.0, 2]), np.array([1.0, 2, 3]))
