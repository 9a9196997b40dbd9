"""Experiment 7: ALinFiK fidelity and cost against exact LinFiK, vs the label fraction.

Exact LinFiK of the whole pool at the scoring checkpoint is the reference. For every
label fraction and seed the engine's ``run_alinfik`` labels a stratified sample (strata =
provider dataset), trains the head on MiniLM embeddings and predicts the rest. Fidelity is
measured on the samples the proxy predicted (every unlabelled one, not only the engine's
small holdout, which is also reported). Cost: the exact labels are computed for real for
seed 0 on the main target and timed; the other runs reuse the cached exact scores.

    python -m experiments.alinfik_fidelity [--quick]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments.common import (
    MAIN_TARGET,
    TARGET_NAMES,
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
from experiments.scoring import (
    alinfik,
    embedding_similarity,
    exact_scores,
    make_scorer,
    own_losses,
    pool_embeddings,
    target_gradient,
)
from valuation.engine.metrics import kendall_tau, precision_at_k_fraction, spearman

NAME = "alinfik_fidelity"
FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2)
SEEDS = {"full": (0, 1, 2), "quick": (0,)}
QUICK_FRACTIONS = (0.1,)


def agreement(exact: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "spearman": spearman(exact, predicted),
        "kendall_tau": kendall_tau(exact, predicted),
        "precision_at_10pct": precision_at_k_fraction(exact, predicted, 0.1),
        "precision_at_20pct": precision_at_k_fraction(exact, predicted, 0.2),
    }


def _timed_label_fn(ctx: Context, pool: Pool, target: str):
    """Exact LinFiK of the requested rows, computed now (to time the labelling honestly)."""
    scorer = make_scorer(ctx, ctx.scale.score_step)
    gradient = target_gradient(scorer, target)

    def label_fn(rows):
        return scorer.score([pool.samples[i] for i in rows], gradient)

    return label_fn


def _one_run(ctx, pool, exact, target, fraction, seed, timed: bool) -> dict[str, Any]:
    label_fn = _timed_label_fn(ctx, pool, target) if timed else None
    result = alinfik(ctx, pool, exact, fraction=fraction, seed=seed, label_fn=label_fn)
    predicted = ~result.is_exact
    run = {
        "target": target,
        "fraction": fraction,
        "seed": seed,
        "n_labelled": int(result.is_exact.sum()),
        "unlabelled": agreement(exact[predicted], result.scores[predicted]),
        "whole_pool": agreement(exact, result.scores),
        "engine_holdout": result.fidelity,
        "timings": result.timings,
        "labels_timed": timed,
    }
    if timed:
        labelled = result.labelled_indices
        run["label_max_abs_diff"] = float(np.max(np.abs(result.scores[labelled] - exact[labelled])))
    return run


def _cost(run: dict[str, Any], exact_meta: dict[str, Any], embed_seconds: float) -> dict:
    per_sample = exact_meta["score_seconds"] / exact_meta["n_samples"]
    timings = run["timings"]
    labels = timings["label_seconds"] if run["labels_timed"] else per_sample * run["n_labelled"]
    return {
        "labels": labels + exact_meta["target_gradient_seconds"],
        "train": timings["train_seconds"],
        "predict": timings["predict_seconds"],
        "embed_pool_once": embed_seconds,
    }


def _mean_std(runs, target, fraction, key, metric) -> tuple[float, float]:
    values = [r[key][metric] for r in runs if r["target"] == target and r["fraction"] == fraction]
    return float(np.mean(values)), float(np.std(values))


def _plot_fidelity(ctx: Context, runs, fractions, baselines) -> None:
    plt = plt_module()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric, label in (
        (axes[0], "spearman", "Spearman with exact LinFiK"),
        (axes[1], "precision_at_10pct", "precision@10% (true top 10%)"),
    ):
        for i, target in enumerate(TARGET_NAMES):
            stats = [_mean_std(runs, target, f, "unlabelled", metric) for f in fractions]
            ax.errorbar(
                [100 * f for f in fractions],
                [m for m, _ in stats],
                yerr=[s for _, s in stats],
                marker="o",
                ms=3,
                capsize=3,
                color=f"C{i}",
                label=f"ALinFiK, {target}",
            )
            ax.axhline(
                baselines[target]["embedding"][metric],
                color=f"C{i}",
                ls=":",
                lw=1,
                label=f"embedding similarity, {target}",
            )
        ax.set_xscale("log")
        ax.set_xticks([100 * f for f in fractions], [f"{100 * f:g}" for f in fractions])
        ax.set_xlabel("label fraction (%)")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=6.5)
    fig.suptitle("ALinFiK predictions on the unlabelled pool (mean ± std over seeds)", fontsize=9)
    save_figure(ctx, fig, "alinfik_fidelity")


def _plot_cost(ctx: Context, costs, exact_seconds, fractions) -> None:
    plt = plt_module()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(len(fractions))
    bottom = np.zeros(len(fractions))
    for part, label in (
        ("labels", "exact labels (+ g_T)"),
        ("train", "head training"),
        ("predict", "prediction"),
    ):
        heights = np.array([costs[f][part] for f in fractions])
        ax.bar(x, heights, bottom=bottom, label=label)
        bottom += heights
    ax.axhline(exact_seconds, color="black", ls="--", label="exact LinFiK, whole pool")
    ax.axhline(
        costs[fractions[0]]["embed_pool_once"],
        color="grey",
        ls=":",
        label="MiniLM embedding of the pool (once per pool)",
    )
    ax.set_xticks(x, [f"{100 * f:g}%" for f in fractions])
    ax.set_xlabel("label fraction")
    ax.set_ylabel("seconds (2-core CPU, 1 thread)")
    ax.set_title(f"cost per valuation task, target {MAIN_TARGET}", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(ctx, fig, "alinfik_cost")


def _table(runs, fractions, costs, exact_seconds, baselines) -> str:
    rows = []
    for target in TARGET_NAMES:
        for f in fractions:
            rho, rho_sd = _mean_std(runs, target, f, "unlabelled", "spearman")
            p10, _ = _mean_std(runs, target, f, "unlabelled", "precision_at_10pct")
            hold, _ = _mean_std(runs, target, f, "engine_holdout", "spearman")
            cost = sum(v for k, v in costs[f].items() if k != "embed_pool_once")
            rows.append(
                [
                    target,
                    f"{100 * f:g}%",
                    f"{rho:.3f} ± {rho_sd:.3f}",
                    p10,
                    hold,
                    cost if target == MAIN_TARGET else "",
                    "",
                ]
            )
        for method in ("embedding", "low_perplexity"):
            b = baselines[target][method]
            rows.append(
                [
                    target,
                    f"baseline: {method}",
                    f"{b['spearman']:.3f}",
                    b["precision_at_10pct"],
                    "",
                    "",
                    "",
                ]
            )
        rows.append([target, "exact LinFiK", "1", 1.0, "", "", exact_seconds[target]])
    headers = [
        "target",
        "label fraction",
        "Spearman (unlabelled)",
        "precision@10%",
        "Spearman (engine holdout)",
        "ALinFiK seconds",
        "exact seconds",
    ]
    return markdown_table(headers, rows)


def run(ctx: Context) -> dict[str, Any]:
    ensure_pretrained(ctx)
    pool = load_pool(ctx.scale)
    fractions = FRACTIONS if not ctx.quick else QUICK_FRACTIONS
    _, embed_meta = pool_embeddings(ctx, pool)
    runs, exact_seconds, baselines, exact_meta = [], {}, {}, {}
    for target in TARGET_NAMES:
        exact, exact_meta[target] = exact_scores(ctx, pool, target)
        meta = exact_meta[target]
        exact_seconds[target] = meta["score_seconds"] + meta["target_gradient_seconds"]
        baselines[target] = {
            "embedding": agreement(exact, embedding_similarity(ctx, pool, target)),
            "low_perplexity": agreement(exact, -own_losses(ctx, pool)),
        }
        for fraction in fractions:
            for seed in SEEDS[ctx.scale.name]:
                timed = target == MAIN_TARGET and seed == 0
                with Timer() as timer:
                    runs.append(_one_run(ctx, pool, exact, target, fraction, seed, timed))
                print(
                    f"{target} {fraction:g} seed {seed}: rho "
                    f"{runs[-1]['unlabelled']['spearman']:.3f} ({timer.seconds:.0f} s)",
                    flush=True,
                )
    main_runs = [r for r in runs if r["target"] == MAIN_TARGET and r["labels_timed"]]
    costs = {
        r["fraction"]: _cost(r, exact_meta[MAIN_TARGET], embed_meta["seconds"]) for r in main_runs
    }
    _plot_fidelity(ctx, runs, fractions, baselines)
    _plot_cost(ctx, costs, exact_seconds[MAIN_TARGET], fractions)
    payload = {
        "fractions": fractions,
        "seeds": SEEDS[ctx.scale.name],
        "n_pool": len(pool),
        "runs": runs,
        "costs": costs,
        "exact_seconds": exact_seconds,
        "exact_meta": exact_meta,
        "embedding": embed_meta,
        "baselines": baselines,
    }
    write_result(ctx, NAME, payload, _table(runs, fractions, costs, exact_seconds, baselines))
    return payload


if __name__ == "__main__":
    run_main(__doc__.splitlines()[0], run)
