"""Experiment 10: brittleness test: remove each method's top-k samples, retrain, compare.

The model continues from the scoring checkpoint on the whole pool minus the k samples a
method values most (for the main target), for a fixed number of steps. A method that
really finds the samples the target depends on makes the target test loss rise most as k
grows; removing random samples is the control. The rise is measured against the run
with nothing removed and the same seed. Common random numbers: every run of a seed
walks the same seeded permutation of the pool with its removed samples skipped, so runs
differ only by what was removed, not by batch-order noise.

    python -m experiments.brittleness [--quick]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments.common import (
    MAIN_TARGET,
    Context,
    Timer,
    load_pool,
    load_targets,
    markdown_table,
    plt_module,
    run_main,
    save_figure,
    write_result,
)
from experiments.lm import Continuation, continue_training
from experiments.pretrain import ensure_pretrained
from experiments.scoring import METHOD_LABELS, METHODS, method_values, samples_at, top_rows

NAME = "brittleness"
REMOVED = {"full": (650, 1300), "quick": (16,)}
SEEDS = {"full": (0, 1), "quick": (0,)}
# Shorter than experiment 8: 2 seeds x (1 + 5 methods x 2 k) runs must fit in 30 minutes.
CONFIG = {
    "full": Continuation(steps=60, batch_size=16, peak_lr=1e-3, warmup=6, eval_every=60),
    "quick": Continuation(steps=4, batch_size=4, peak_lr=1e-3, warmup=1, eval_every=4),
}


def _final_test_loss(ctx: Context, pool, order: np.ndarray, removed: np.ndarray, seed) -> float:
    """Train on ``order`` (a pool permutation) minus ``removed``; final target test loss."""
    kept = order[~np.isin(order, removed)]
    eval_sets = {"test": load_targets(MAIN_TARGET, "test")}
    curve = continue_training(
        ctx, samples_at(pool, kept), eval_sets, seed, CONFIG[ctx.scale.name], shuffle=False
    )
    return curve["losses"]["test"][-1]


def run_removals(ctx: Context) -> dict[str, Any]:
    pool = load_pool(ctx.scale)
    baseline, losses = {}, []
    for seed in SEEDS[ctx.scale.name]:
        values = method_values(ctx, pool, MAIN_TARGET, seed)
        order = np.random.default_rng([seed, 11]).permutation(len(pool))
        with Timer() as timer:
            baseline[seed] = _final_test_loss(ctx, pool, order, np.array([], dtype=int), seed)
        print(f"seed {seed} nothing removed: {baseline[seed]:.3f} ({timer.seconds:.0f} s)")
        for method in METHODS:
            for k in REMOVED[ctx.scale.name]:
                loss = _final_test_loss(ctx, pool, order, top_rows(values[method], k), seed)
                rise = loss - baseline[seed]
                losses.append(
                    {"method": method, "k": k, "seed": seed, "test_loss": loss, "rise": rise}
                )
                print(f"seed {seed} {method} k={k}: rise {rise:+.3f}", flush=True)
    return {"baseline": baseline, "runs": losses}


def rises(result: dict[str, Any], method: str, k: int) -> np.ndarray:
    return np.array([r["rise"] for r in result["runs"] if r["method"] == method and r["k"] == k])


def _plot(ctx: Context, result: dict[str, Any], ks) -> None:
    plt = plt_module()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, method in enumerate(METHODS):
        stats = [rises(result, method, k) for k in ks]
        ax.errorbar(
            [0, *ks],
            [0.0, *(s.mean() for s in stats)],
            yerr=[0.0, *(s.std() for s in stats)],
            marker="o",
            ms=3,
            capsize=3,
            color=f"C{i}",
            label=METHOD_LABELS[method],
        )
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("k: top-valued samples removed from the pool")
    ax.set_ylabel("rise of target test loss")
    ax.set_title(
        f"target {MAIN_TARGET}; mean ± std over seeds {list(SEEDS[ctx.scale.name])}", fontsize=9
    )
    ax.legend(fontsize=7)
    save_figure(ctx, fig, "brittleness")


def _table(result: dict[str, Any], ks) -> str:
    rows = [
        [
            METHOD_LABELS[m],
            *(f"{rises(result, m, k).mean():+.3f} ± {rises(result, m, k).std():.3f}" for k in ks),
        ]
        for m in METHODS
    ]
    base = np.mean(list(result["baseline"].values()))
    return f"Test loss with nothing removed: {base:.3f} (mean over seeds).\n\n" + markdown_table(
        ["method", *(f"rise, k = {k}" for k in ks)], rows
    )


def run(ctx: Context) -> dict[str, Any]:
    ensure_pretrained(ctx)
    ks = REMOVED[ctx.scale.name]
    with Timer() as timer:
        result = run_removals(ctx)
    _plot(ctx, result, ks)
    payload = {
        "target": MAIN_TARGET,
        "removed": ks,
        "seeds": SEEDS[ctx.scale.name],
        "continuation": CONFIG[ctx.scale.name].__dict__,
        "seconds": timer.seconds,
        **result,
    }
    write_result(ctx, NAME, payload, _table(result, ks))
    return payload


if __name__ == "__main__":
    run_main(__doc__.splitlines()[0], run)
