"""Experiments 4 and 5: gradient-direction and gradient-norm-order stability in pretraining.

For a stratified sample of the pool (the same rows at every checkpoint) and every saved
pretraining checkpoint t:

* direction (the paper's Proposition 1): cos(g_t(z), g_final(z)) and
  cos(g_t(z), g_next(z)) between consecutive checkpoints, mean and quartile band;
* norm order (Proposition 2): Spearman of ||g_t(z)|| with ||g_final(z)|| and with the
  next checkpoint's norms.

The per-sample gradients come from the engine (``ExactLinFiK.per_sample_gradients``);
``gradient_trajectory`` only walks the checkpoints chunk by chunk so each gradient is
computed once instead of once per checkpoint pair (``analysis.gradient_cosines`` takes
one pair).

    python -m experiments.stability [--quick]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch

from experiments.common import (
    Context,
    Pool,
    Timer,
    load_pool,
    markdown_table,
    plt_module,
    run_main,
    save_figure,
    write_result,
)
from experiments.pretrain import ensure_pretrained
from experiments.scoring import make_scorer
from valuation.engine.analysis import rank_correlation
from valuation.engine.data import Sample
from valuation.engine.exact import ExactLinFiK

NAME = "stability"
PER_DATASET = {"full": 40, "quick": 4}
CHUNK = 16


def stratified_rows(pool: Pool, per_dataset: int, seed: int) -> np.ndarray:
    """``per_dataset`` random rows of every provider dataset, sorted."""
    rng = np.random.default_rng(seed)
    rows = [
        rng.choice(np.flatnonzero(pool.datasets == name), size=per_dataset, replace=False)
        for name in sorted(set(pool.datasets))
    ]
    return np.sort(np.concatenate(rows))


def flat_gradients(scorer: ExactLinFiK, samples: Sequence[Sample]) -> torch.Tensor:
    """Per-sample gradients as one [len(samples), n_params] float64 matrix, in input order."""
    out = torch.empty((len(samples), scorer.n_params), dtype=torch.float64)
    for indices, grads in scorer.per_sample_gradients(samples):
        out[indices] = torch.cat([g.double().flatten(1) for g in grads.values()], dim=1)
    return out


def _cosine(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    return (torch.nn.functional.cosine_similarity(a, b, dim=1)).numpy()


@dataclass
class Trajectory:
    """Per-checkpoint, per-sample statistics (rows follow the checkpoint order)."""

    cos_final: np.ndarray  # [C, N]
    cos_next: np.ndarray  # [C - 1, N]: checkpoint c against c + 1
    norms: np.ndarray  # [C, N]


GradientFn = Callable[[Sequence[Sample]], torch.Tensor]


def gradient_trajectory(
    checkpoints: Sequence[GradientFn], samples: Sequence[Sample], chunk: int = CHUNK
) -> Trajectory:
    """Walk chunks of samples through every checkpoint, latest first.

    ``checkpoints[c](samples)`` returns the flat per-sample gradients at checkpoint c,
    e.g. ``functools.partial(flat_gradients, scorer)``.
    """
    n_ckpt = len(checkpoints)
    cos_final = np.empty((n_ckpt, len(samples)))
    cos_next = np.empty((n_ckpt - 1, len(samples)))
    norms = np.empty((n_ckpt, len(samples)))
    for start in range(0, len(samples), chunk):
        rows = slice(start, start + chunk)
        final = later = None
        for c in reversed(range(n_ckpt)):
            grads = checkpoints[c](samples[rows])
            norms[c, rows] = grads.norm(dim=1).numpy()
            if final is None:
                final = grads
            cos_final[c, rows] = _cosine(grads, final)
            if later is not None:
                cos_next[c, rows] = _cosine(grads, later)
            later = grads
    return Trajectory(cos_final, cos_next, norms)


def summarise(steps: Sequence[int], trajectory: Trajectory) -> dict[str, Any]:
    final_rank = [rank_correlation(n, trajectory.norms[-1]) for n in trajectory.norms]
    next_rank = [
        rank_correlation(trajectory.norms[c], trajectory.norms[c + 1])
        for c in range(len(steps) - 1)
    ]

    def band(matrix: np.ndarray) -> dict[str, list[float]]:
        return {
            "mean": np.nanmean(matrix, axis=1).tolist(),
            "q25": np.nanquantile(matrix, 0.25, axis=1).tolist(),
            "q75": np.nanquantile(matrix, 0.75, axis=1).tolist(),
        }

    return {
        "steps": list(steps),
        "cos_final": band(trajectory.cos_final),
        "cos_next": band(trajectory.cos_next),
        "norm_spearman_final": final_rank,
        "norm_spearman_next": next_rank,
        "median_norm": np.median(trajectory.norms, axis=1).tolist(),
    }


def _plot_directions(ctx: Context, summary: dict[str, Any], title: str, name: str) -> None:
    plt = plt_module()
    steps = np.array(summary["steps"])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, x, label in (
        ("cos_final", steps, "cos(g_t, g_final)"),
        ("cos_next", steps[:-1], "cos(g_t, g_next checkpoint)"),
    ):
        stats = summary[key]
        ax.plot(x, stats["mean"], marker="o", ms=3, label=f"{label}: mean")
        ax.fill_between(x, stats["q25"], stats["q75"], alpha=0.25, label=f"{label}: quartiles")
    ax.axvline(ctx.scale.score_step, color="grey", ls=":", label="scoring checkpoint")
    ax.set_xlabel("pretraining step")
    ax.set_ylabel("cosine similarity")
    ax.set_ylim(-0.1, 1.02)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    save_figure(ctx, fig, name)


def _plot_norm_order(ctx: Context, summary: dict[str, Any], title: str, name: str) -> None:
    plt = plt_module()
    steps = np.array(summary["steps"])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, summary["norm_spearman_final"], marker="o", ms=3, label="vs final checkpoint")
    ax.plot(steps[:-1], summary["norm_spearman_next"], marker="s", ms=3, label="vs next checkpoint")
    ax.axvline(ctx.scale.score_step, color="grey", ls=":", label="scoring checkpoint")
    ax.set_xlabel("pretraining step")
    ax.set_ylabel("Spearman of per-sample ||grad||")
    ax.set_ylim(-0.1, 1.02)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    save_figure(ctx, fig, name)


def table(summary: dict[str, Any]) -> str:
    rows = []
    for c, step in enumerate(summary["steps"]):
        last = c == len(summary["steps"]) - 1
        rows.append(
            [
                step,
                summary["cos_final"]["mean"][c],
                float("nan") if last else summary["cos_next"]["mean"][c],
                summary["norm_spearman_final"][c],
                float("nan") if last else summary["norm_spearman_next"][c],
                summary["median_norm"][c],
            ]
        )
    headers = [
        "step",
        "mean cos(g_t, g_final)",
        "mean cos(g_t, g_next)",
        "Spearman norms vs final",
        "Spearman norms vs next",
        "median gradient norm",
    ]
    return markdown_table(headers, rows)


def run(ctx: Context) -> dict[str, Any]:
    ensure_pretrained(ctx)
    pool = load_pool(ctx.scale)
    rows = stratified_rows(pool, PER_DATASET[ctx.scale.name], seed=ctx.scale.seed)
    samples = [pool.samples[i] for i in rows]
    steps = list(ctx.scale.checkpoint_steps)
    scorers = [make_scorer(ctx, step) for step in steps]
    with Timer() as timer:
        trajectory = gradient_trajectory([partial(flat_gradients, s) for s in scorers], samples)
    summary = summarise(steps, trajectory)
    title = f"{len(samples)} pool samples, {scorers[0].n_params:,} parameters"
    _plot_directions(ctx, summary, title, "gradient_direction_stability")
    _plot_norm_order(ctx, summary, title, "gradient_norm_order_stability")
    payload = {
        "n_samples": len(samples),
        "sample_ids": [s.id for s in samples],
        "n_params": scorers[0].n_params,
        "seconds": timer.seconds,
        **summary,
    }
    write_result(ctx, NAME, payload, table(summary))
    return payload


if __name__ == "__main__":
    run_main(__doc__.splitlines()[0], run)
