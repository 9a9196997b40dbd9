"""Experiment 6: does LinFiK at an early checkpoint predict influence later in training?

For a stratified sample of the pool and the main target task:

* exact LinFiK at every pretraining checkpoint t (engine ``ExactLinFiK.score``);
* the one-step oracle at later checkpoints: the actual target-loss drop after one SGD
  step of size lr (``ORACLE_LRS``) on the sample, divided by the step size;
* a TracIn-style "future influence" from each early checkpoint t0 on:
  sum over checkpoints t >= t0 of lr(t) x (steps to the next checkpoint) x LinFiK_t,
  i.e. the first-order loss drop the sample would cause if trained on for the rest of
  the run.

Reported: Spearman of LinFiK_{t0} with each later LinFiK_t, oracle_t and the cumulative
future influence, for several early checkpoints t0.

    python -m experiments.future_influence [--quick]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

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
from experiments.lm import Schedule
from experiments.pretrain import ensure_pretrained
from experiments.scoring import make_scorer, target_gradient
from experiments.stability import stratified_rows
from valuation.engine.data import Sample
from valuation.engine.exact import ExactLinFiK
from valuation.engine.metrics import spearman

NAME = "future_influence"
PER_DATASET = {"full": 100, "quick": 4}  # samples scored at every checkpoint
ORACLE_PER_DATASET = {"full": 20, "quick": 2}  # subset that also gets the oracle
ORACLE_STEPS = {"full": (50, 100, 200, 300, 400), "quick": (6, 12)}
EARLY_STEPS = {"full": (25, 50, 100), "quick": (6,)}
# One SGD step of 0.01 stays near the linear regime; 0.1 already shows curvature.
ORACLE_LRS = (0.01, 0.1)


def oracle_scores(
    scorer: ExactLinFiK, samples: Sequence[Sample], targets: Sequence[Sample], lr: float
) -> np.ndarray:
    """The engine's one-step oracle, with the unperturbed target loss computed once.

    Same formula as ``reference.one_step_oracle``, which recomputes L_T(theta) per call.
    """
    tokenized_targets = scorer.tokenize(targets)
    before = scorer.losses(tokenized_targets).mean()
    out = np.empty(len(samples))
    for i, sample in enumerate(samples):
        step = scorer.sample_gradient(sample)
        stepped = {name: p.detach() - lr * step[name] for name, p in scorer.params.items()}
        out[i] = (before - scorer.losses(tokenized_targets, stepped).mean()) / lr
    return out


def future_influence(
    steps: Sequence[int], linfik: np.ndarray, schedule: Schedule, start: int
) -> np.ndarray:
    """sum_{t_c >= start} lr(t_c) * (t_{c+1} - t_c) * LinFiK_{t_c} (last checkpoint excluded)."""
    total = np.zeros(linfik.shape[1])
    for c in range(len(steps) - 1):
        if steps[c] >= start:
            total += schedule.lr(steps[c]) * (steps[c + 1] - steps[c]) * linfik[c]
    return total


def _scores_by_checkpoint(ctx: Context, steps, samples, oracle_rows, targets):
    """LinFiK [checkpoint, sample]; oracle {lr: {step: values}}; flat g_T per checkpoint."""
    linfik = np.empty((len(steps), len(samples)))
    oracle: dict[float, dict[int, np.ndarray]] = {lr: {} for lr in ORACLE_LRS}
    target_grads = []
    oracle_samples = [samples[i] for i in oracle_rows]
    for c, step in enumerate(steps):
        scorer = make_scorer(ctx, step)
        gradient = target_gradient(scorer, MAIN_TARGET)
        target_grads.append(torch.cat([g.flatten() for g in gradient.grads.values()]).double())
        linfik[c] = scorer.score(samples, gradient)
        if step in ORACLE_STEPS[ctx.scale.name]:
            for lr in ORACLE_LRS:
                oracle[lr][step] = oracle_scores(scorer, oracle_samples, targets, lr)
        print(f"checkpoint {step} scored", flush=True)
    return linfik, oracle, torch.stack(target_grads)


def _cached_scores(ctx: Context, steps, samples, oracle_rows, targets):
    """``_scores_by_checkpoint`` once per scale (the figure and table can be redrawn)."""
    path = ctx.paths.cache / "future_influence.pt"
    if path.is_file():
        return torch.load(path, weights_only=False)
    scores = _scores_by_checkpoint(ctx, steps, samples, oracle_rows, targets)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(scores, path)
    return scores


def diagnostics(steps, linfik, target_grads, datasets, t0) -> dict[str, Any]:
    """Why early and late LinFiK disagree: g_T's direction, dataset-level vs within-dataset."""
    cos = torch.nn.functional.cosine_similarity(target_grads, target_grads[-1:], dim=1)
    names = sorted(set(datasets))
    means = np.array([[row[datasets == name].mean() for name in names] for row in linfik])
    c0 = steps.index(t0)
    later = [c for c in range(len(steps)) if steps[c] >= t0]
    within = {
        str(steps[c]): float(
            np.mean(
                [
                    spearman(linfik[c0, datasets == name], linfik[c, datasets == name])
                    for name in names
                ]
            )
        )
        for c in later
    }
    return {
        "target_gradient_cos_final": cos.tolist(),
        "target_gradient_norm": target_grads.norm(dim=1).tolist(),
        "dataset_means": {name: means[:, i].tolist() for i, name in enumerate(names)},
        "dataset_mean_spearman": {str(steps[c]): spearman(means[c0], means[c]) for c in later},
        "within_dataset_spearman": within,
    }


def correlations(steps, linfik, oracle, oracle_rows, schedule, early_steps) -> dict[str, Any]:
    """Spearman of early LinFiK with later LinFiK, oracles and future influence."""
    out: dict[str, Any] = {}
    for t0 in early_steps:
        c0 = steps.index(t0)
        later = [c for c in range(len(steps)) if steps[c] >= t0]
        out[str(t0)] = {
            "linfik": {str(steps[c]): spearman(linfik[c0], linfik[c]) for c in later},
            "oracle": {
                f"{lr:g}": {
                    str(step): spearman(linfik[c0, oracle_rows], values)
                    for step, values in by_step.items()
                    if step >= t0
                }
                for lr, by_step in oracle.items()
            },
            "future_influence": spearman(linfik[c0], future_influence(steps, linfik, schedule, t0)),
        }
    out["same_checkpoint_linfik_vs_oracle"] = {
        f"{lr:g}": {
            str(step): spearman(linfik[steps.index(step), oracle_rows], values)
            for step, values in by_step.items()
        }
        for lr, by_step in oracle.items()
    }
    return out


def _by_step(values: dict[str, float]) -> tuple[list[int], list[float]]:
    steps = sorted(values, key=int)
    return [int(step) for step in steps], [values[step] for step in steps]


def _plot_diagnostics(ax, result: dict[str, Any]) -> None:
    diag, steps = result["diagnostics"], result["steps"]
    t0 = min(int(s) for s in diag["within_dataset_spearman"])
    ax.plot(
        steps,
        diag["target_gradient_cos_final"],
        marker="o",
        ms=3,
        color="C3",
        label="cos(g_T at t, g_T final)",
    )
    ax.plot(
        *_by_step(diag["dataset_mean_spearman"]),
        marker="s",
        ms=3,
        color="C4",
        label=f"LinFiK@{t0} vs @t: Spearman of the 8 dataset means",
    )
    ax.plot(
        *_by_step(diag["within_dataset_spearman"]),
        marker="^",
        ms=3,
        color="C5",
        label=f"LinFiK@{t0} vs @t: mean within-dataset Spearman",
    )
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel("checkpoint t (pretraining step)")
    ax.set_ylim(-0.6, 1.02)
    ax.set_title("diagnostics", fontsize=9)
    ax.legend(fontsize=6.5)


def _plot(ctx: Context, result: dict[str, Any], n: int, n_oracle: int) -> None:
    plt = plt_module()
    fig, (ax, right) = plt.subplots(1, 2, figsize=(11, 4.0), gridspec_kw={"width_ratios": [3, 2]})
    _plot_diagnostics(right, result)
    main_lr = f"{ORACLE_LRS[0]:g}"
    for i, t0 in enumerate(result["early_steps"]):
        entry = result["correlations"][str(t0)]
        style = {"color": f"C{i}", "ms": 3}
        ax.plot(*_by_step(entry["linfik"]), marker="o", label=f"LinFiK@{t0} vs LinFiK@t", **style)
        ax.plot(
            *_by_step(entry["oracle"][main_lr]),
            ls="--",
            marker="x",
            label=f"LinFiK@{t0} vs oracle@t (lr {main_lr})",
            **style,
        )
    same = result["correlations"]["same_checkpoint_linfik_vs_oracle"]
    for lr, ls in zip(same, (":", "-."), strict=False):
        ax.plot(
            *_by_step(same[lr]),
            color="black",
            ls=ls,
            marker=".",
            label=f"LinFiK@t vs oracle@t, lr {lr} (same checkpoint)",
        )
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel("later checkpoint t (pretraining step)")
    ax.set_ylabel("Spearman")
    ax.set_ylim(min(-0.1, ax.get_ylim()[0]), 1.02)
    ax.set_title(f"target {MAIN_TARGET}: {n} samples (oracle: {n_oracle})", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    save_figure(ctx, fig, "future_influence")


def _table(result: dict[str, Any]) -> str:
    final = str(max(result["steps"]))
    rows = []
    for t0 in result["early_steps"]:
        entry = result["correlations"][str(t0)]
        oracles = [entry["oracle"][f"{lr:g}"].get(final, float("nan")) for lr in ORACLE_LRS]
        rows.append([t0, entry["linfik"][final], *oracles, entry["future_influence"]])
    same = result["correlations"]["same_checkpoint_linfik_vs_oracle"]
    rows.append(
        [
            "(same checkpoint t = " + final + ")",
            1.0,
            *(same[f"{lr:g}"].get(final, float("nan")) for lr in ORACLE_LRS),
            float("nan"),
        ]
    )
    headers = [
        "LinFiK at checkpoint",
        f"Spearman vs LinFiK@{final}",
        *(f"vs oracle@{final}, lr {lr:g}" for lr in ORACLE_LRS),
        "vs future influence (t >= t0)",
    ]
    return markdown_table(headers, rows)


def run(ctx: Context) -> dict[str, Any]:
    log = ensure_pretrained(ctx)
    pool = load_pool(ctx.scale)
    rows = stratified_rows(pool, PER_DATASET[ctx.scale.name], seed=ctx.scale.seed + 1)
    samples = [pool.samples[i] for i in rows]
    # The oracle subset: the first ORACLE_PER_DATASET rows of each dataset in ``rows``.
    oracle_rows = np.concatenate(
        [
            np.flatnonzero(pool.datasets[rows] == name)[: ORACLE_PER_DATASET[ctx.scale.name]]
            for name in sorted(set(pool.datasets))
        ]
    )
    steps = list(ctx.scale.checkpoint_steps)
    targets = load_targets(MAIN_TARGET)
    with Timer() as timer:
        linfik, oracle, target_grads = _cached_scores(ctx, steps, samples, oracle_rows, targets)
    cfg = log["config"]
    schedule = Schedule(cfg["steps"], cfg["peak_lr"], warmup=cfg["steps"] // 20)
    early = [t for t in EARLY_STEPS[ctx.scale.name] if t in steps]
    result = {
        "target": MAIN_TARGET,
        "steps": steps,
        "early_steps": early,
        "n_samples": len(samples),
        "n_oracle": len(oracle_rows),
        "oracle_lrs": ORACLE_LRS,
        "seconds": timer.seconds,
        "correlations": correlations(steps, linfik, oracle, oracle_rows, schedule, early),
        "diagnostics": diagnostics(
            steps, linfik, target_grads, pool.datasets[rows], ctx.scale.score_step
        ),
    }
    _plot(ctx, result, len(samples), len(oracle_rows))
    write_result(ctx, NAME, result, _table(result))
    return result


if __name__ == "__main__":
    run_main(__doc__.splitlines()[0], run)
