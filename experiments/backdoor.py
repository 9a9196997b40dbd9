"""Experiment 9: where the 60 "Howdy!" backdoor samples fall in each method's ranking.

The backdoor samples of ``instruct-mix`` look like clean definitions ("Howdy! Define the
word X.") but answer with nonsense, so a good valuation should rank them low for a buyer
of instruction following. Per method and target: the share of backdoors in the pool's
bottom decile, the AUC of "a clean sample outranks a backdoor" (against the whole pool
and against clean instruct-mix samples of the same format), the backdoors' median
percentile, and how many survive into the top-20 % selection of experiment 8.

    python -m experiments.backdoor [--quick]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import mannwhitneyu, rankdata

from experiments.common import (
    BACKDOOR_DATASET,
    MAIN_TARGET,
    TARGET_NAMES,
    Context,
    Pool,
    load_pool,
    markdown_table,
    plt_module,
    run_main,
    save_figure,
    write_result,
)
from experiments.pretrain import ensure_pretrained
from experiments.scoring import METHOD_LABELS, METHODS, method_values, top_rows
from experiments.selection import SEEDS, SELECT_FRACTION
from valuation.engine.metrics import top_k_count

NAME = "backdoor"


def auc(clean: np.ndarray, backdoor: np.ndarray) -> float:
    """P(value of a clean sample > value of a backdoor), ties counting one half."""
    return float(mannwhitneyu(clean, backdoor).statistic / (len(clean) * len(backdoor)))


def percentiles(values: np.ndarray) -> np.ndarray:
    """Position of every sample in the pool ranking: 0 = lowest value, 100 = highest."""
    return 100.0 * (rankdata(values) - 1) / (len(values) - 1)


# Columns of the backdoor table: target, method, then backdoor_stats' entries in order.
STATS_HEADERS = [
    "target",
    "method",
    "share in bottom decile",
    "AUC clean > backdoor (pool)",
    "AUC (vs clean instruct-mix)",
    "median percentile",
    "kept in top 20%",
]


def backdoor_stats(pool: Pool, values: np.ndarray) -> dict[str, float]:
    bad = pool.is_backdoor
    same_format = (pool.datasets == BACKDOOR_DATASET) & ~bad
    k_bottom = top_k_count(len(pool), 0.1)
    bottom = np.argsort(values, kind="stable")[:k_bottom]
    kept = top_rows(values, top_k_count(len(pool), SELECT_FRACTION))
    return {
        "bottom_decile_share": float(bad[bottom].sum() / bad.sum()),
        "auc_vs_pool": auc(values[~bad], values[bad]),
        "auc_vs_instruct_mix": auc(values[same_format], values[bad]),
        "median_percentile": float(np.median(percentiles(values)[bad])),
        "kept_in_top20": int(bad[kept].sum()),
    }


def _mean(entries: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.mean([e[key] for e in entries])) for key in entries[0]}


def _plot(ctx: Context, pool: Pool, values: dict[str, np.ndarray], target: str) -> None:
    plt = plt_module()
    fig, ax = plt.subplots(figsize=(7, 3.4))
    same_format = (pool.datasets == BACKDOOR_DATASET) & ~pool.is_backdoor
    for i, method in enumerate(METHODS):
        pct = percentiles(values[method])
        parts = ax.boxplot(
            [pct[same_format], pct[pool.is_backdoor]],
            positions=[3 * i, 3 * i + 1],
            widths=0.8,
            patch_artist=True,
            showfliers=False,
        )
        for patch, color in zip(parts["boxes"], ("#9ecae1", "#de2d26"), strict=True):
            patch.set_facecolor(color)
    ax.set_xticks(
        [3 * i + 0.5 for i in range(len(METHODS))], [METHOD_LABELS[m] for m in METHODS], fontsize=7
    )
    ax.axhline(100 * (1 - SELECT_FRACTION), color="grey", ls=":", lw=1)
    ax.set_ylabel("percentile in the pool ranking")
    ax.set_title(
        f"target {target}: clean instruct-mix (blue) vs Howdy backdoors (red), seed 0;"
        " dotted: top-20% cut",
        fontsize=9,
    )
    save_figure(ctx, fig, "backdoor_ranks")


def run(ctx: Context) -> dict[str, Any]:
    ensure_pretrained(ctx)
    pool = load_pool(ctx.scale)
    stats: dict[str, dict[str, dict[str, float]]] = {}
    rows = []
    for target in TARGET_NAMES:
        stats[target] = {}
        per_seed = [method_values(ctx, pool, target, seed) for seed in SEEDS[ctx.scale.name]]
        for method in METHODS:
            entry = _mean([backdoor_stats(pool, values[method]) for values in per_seed])
            stats[target][method] = entry
            rows.append([target, METHOD_LABELS[method], *entry.values()])
        if target == MAIN_TARGET:
            _plot(ctx, pool, per_seed[0], target)
    headers = STATS_HEADERS
    n_backdoor = int(pool.is_backdoor.sum())
    intro = (
        f"{n_backdoor} backdoor samples in a pool of {len(pool)}; means over seeds "
        f"{list(SEEDS[ctx.scale.name])} (only ALinFiK and random depend on the seed).\n\n"
    )
    payload = {"n_backdoor": n_backdoor, "n_pool": len(pool), "stats": stats}
    write_result(ctx, NAME, payload, intro + markdown_table(headers, rows))
    return payload


if __name__ == "__main__":
    run_main(__doc__.splitlines()[0], run)
