"""Experiment 8: train on the top 20 % of the pool chosen by each method.

Every method ranks the pool for a target task (``experiments.scoring``); the small model
then continues from the scoring checkpoint (the same early checkpoint that LinFiK and
ALinFiK were computed at) on that method's top 20 % for a fixed number of steps, with a
fresh AdamW. The loss on the target's held-out test half is tracked along the way. Seeds
change the batch order and, for ALinFiK and random, the selection itself.

    python -m experiments.selection [--quick] [--target NAME]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments.common import (
    MAIN_TARGET,
    TARGET_NAMES,
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
from experiments.lm import CONTINUATION, continue_training
from experiments.pretrain import ensure_pretrained
from experiments.scoring import METHOD_LABELS, METHODS, method_values, samples_at, top_rows
from valuation.engine.metrics import top_k_count

NAME = "selection"
SELECT_FRACTION = 0.2
SEEDS = {"full": (0, 1, 2), "quick": (0,)}


def composition(datasets: np.ndarray) -> dict[str, float]:
    """Share of each provider dataset in a selection."""
    names, counts = np.unique(datasets, return_counts=True)
    return {str(n): float(c) / len(datasets) for n, c in zip(names, counts, strict=True)}


def run_target(ctx: Context, target: str) -> dict[str, Any]:
    pool = load_pool(ctx.scale)
    k = top_k_count(len(pool), SELECT_FRACTION)
    eval_sets = {"test": load_targets(target, "test"), "valuation": load_targets(target)}
    runs = []
    for seed in SEEDS[ctx.scale.name]:
        values = method_values(ctx, pool, target, seed)
        for method in METHODS:
            rows = top_rows(values[method], k)
            with Timer() as timer:
                curve = continue_training(ctx, samples_at(pool, rows), eval_sets, seed)
            runs.append(
                {
                    "method": method,
                    "seed": seed,
                    "seconds": timer.seconds,
                    "n_backdoor": int(pool.is_backdoor[rows].sum()),
                    "composition": composition(pool.datasets[rows]),
                    **curve,
                }
            )
            print(
                f"{target} seed {seed} {method}: test loss "
                f"{curve['losses']['test'][-1]:.3f} ({timer.seconds:.0f} s)",
                flush=True,
            )
    return {"target": target, "k": k, "runs": runs}


def final_losses(result: dict[str, Any], method: str, split: str = "test") -> np.ndarray:
    return np.array([r["losses"][split][-1] for r in result["runs"] if r["method"] == method])


def _plot(ctx: Context, result: dict[str, Any], start_loss: float) -> None:
    plt = plt_module()
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    for i, method in enumerate(METHODS):
        curves = np.array([r["losses"]["test"] for r in result["runs"] if r["method"] == method])
        steps = result["runs"][0]["eval_steps"]
        mean, std = curves.mean(axis=0), curves.std(axis=0)
        axes[0].plot(steps, mean, color=f"C{i}", label=METHOD_LABELS[method])
        axes[0].fill_between(steps, mean - std, mean + std, color=f"C{i}", alpha=0.2)
        finals = final_losses(result, method)
        axes[1].bar(i, finals.mean(), yerr=finals.std(), color=f"C{i}", capsize=4)
        axes[1].scatter(np.full(len(finals), i), finals, color="black", s=6, zorder=3)
    axes[0].set_xlabel(f"training step (from checkpoint {ctx.scale.score_step})")
    axes[0].set_ylabel("target test loss")
    axes[0].legend(fontsize=7)
    axes[1].set_xticks(
        range(len(METHODS)),
        [METHOD_LABELS[m] for m in METHODS],
        rotation=30,
        ha="right",
        fontsize=7,
    )
    axes[1].axhline(start_loss, color="grey", ls=":", lw=1, label="before training")
    lows = [final_losses(result, m).min() for m in METHODS]
    axes[1].set_ylim(min(lows) - 0.2, start_loss + 0.1)
    axes[1].set_ylabel("final target test loss")
    axes[1].legend(fontsize=7)
    fig.suptitle(
        f"top {100 * SELECT_FRACTION:g}% of the pool by each method; target {result['target']}"
        f" (mean ± std over {len(SEEDS[ctx.scale.name])} seeds)",
        fontsize=9,
    )
    save_figure(ctx, fig, f"selection_{result['target']}")


def _table(result: dict[str, Any]) -> str:
    rows = []
    for method in METHODS:
        finals = final_losses(result, method)
        own = final_losses(result, method, "valuation")
        entries = [r for r in result["runs"] if r["method"] == method]
        shares = {}
        for entry in entries:
            for name, share in entry["composition"].items():
                shares[name] = shares.get(name, 0.0) + share / len(entries)
        top = sorted(shares.items(), key=lambda item: -item[1])[:2]
        rows.append(
            [
                METHOD_LABELS[method],
                f"{finals.mean():.3f} ± {finals.std():.3f}",
                f"{own.mean():.3f}",
                ", ".join(f"{n} {100 * s:.0f}%" for n, s in top),
            ]
        )
    headers = [
        "method",
        "final test loss (mean ± std)",
        "final loss on valuation half",
        "largest shares of the selection",
    ]
    return f"Target **{result['target']}** (k = {result['k']}):\n\n" + markdown_table(headers, rows)


def run(ctx: Context, target: str = MAIN_TARGET) -> dict[str, Any]:
    ensure_pretrained(ctx)
    result = run_target(ctx, target)
    start_loss = result["runs"][0]["losses"]["test"][0]
    _plot(ctx, result, start_loss)
    payload = {
        **result,
        "seeds": SEEDS[ctx.scale.name],
        "continuation": CONTINUATION[ctx.scale.name].__dict__,
        "final_test_loss": {
            m: {"mean": final_losses(result, m).mean(), "std": final_losses(result, m).std()}
            for m in METHODS
        },
    }
    write_result(ctx, f"{NAME}_{target}", payload, _table(result))
    return payload


OPTIONS = [("--target", {"default": MAIN_TARGET, "choices": TARGET_NAMES})]

if __name__ == "__main__":
    run_main(__doc__.splitlines()[0], run, OPTIONS)
