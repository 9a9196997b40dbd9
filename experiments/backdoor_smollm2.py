"""Experiment 9b: the "Howdy!" backdoors ranked by SmolLM2-135M, the product's default model.

The checkpoint is SmolLM2-135M-Instruct as packaged (GGUF, no fine-tuning); LinFiK is
taken over its last two transformer blocks (as in ``stability_smollm2``), texts are
truncated to ``MAX_LENGTH`` tokens and one CPU thread is used
(``EXPERIMENTS_THREADS``, default 1). The pool is a stratified
subset of the demo pool: ``backdoors`` Howdy samples, as many clean instruct-mix samples
of the same format, and ``per_dataset`` samples of every other dataset. Per method
(exact LinFiK, lowest perplexity, random): the statistics of ``experiments.backdoor``.

    python -m experiments.backdoor_smollm2 [--quick]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from experiments.backdoor import STATS_HEADERS, backdoor_stats
from experiments.common import (
    BACKDOOR_DATASET,
    MAIN_TARGET,
    Context,
    Pool,
    Timer,
    load_pool,
    load_targets,
    markdown_table,
    run_main,
    write_result,
)
from experiments.stability_smollm2 import MAX_LENGTH, PARAM_FILTER
from valuation.engine.exact import ExactLinFiK
from valuation.engine.models import load_model

NAME = "backdoor_smollm2"
MODEL = "smollm2-135m"
CHECKPOINT = "SmolLM2-135M-Instruct (packaged GGUF, not fine-tuned), last 2 blocks"


@dataclass(frozen=True)
class Setting:
    backdoors: int
    per_dataset: int
    targets: int


SETTINGS = {
    "full": Setting(backdoors=60, per_dataset=100, targets=25),
    "quick": Setting(backdoors=2, per_dataset=2, targets=2),
}


def subset(pool: Pool, setting: Setting, seed: int) -> Pool:
    """Backdoors, as many clean instruct-mix rows, ``per_dataset`` rows of every other set."""
    rng = np.random.default_rng(seed)
    bad = np.flatnonzero(pool.is_backdoor)
    same_format = np.flatnonzero((pool.datasets == BACKDOOR_DATASET) & ~pool.is_backdoor)
    n_bad = min(setting.backdoors, len(bad), len(same_format))
    rows = [rng.choice(bad, n_bad, replace=False), rng.choice(same_format, n_bad, replace=False)]
    for name in np.unique(pool.datasets):
        if name == BACKDOOR_DATASET:
            continue
        candidates = np.flatnonzero(pool.datasets == name)
        rows.append(rng.choice(candidates, min(setting.per_dataset, len(candidates)), False))
    keep = np.sort(np.concatenate(rows))
    return Pool(
        [pool.samples[i] for i in keep],
        pool.datasets[keep],
        pool.is_backdoor[keep],
        pool.quality[keep],
    )


def run(ctx: Context) -> dict[str, Any]:
    setting = SETTINGS[ctx.scale.name]
    pool = subset(load_pool(ctx.scale), setting, ctx.scale.seed)
    loaded = load_model(MODEL, device="cpu")
    loaded.model.eval()
    scorer = ExactLinFiK(
        loaded.model,
        loaded.tokenizer,
        max_length=MAX_LENGTH,
        batch_size=8,
        param_filter=PARAM_FILTER,
    )
    targets = load_targets(MAIN_TARGET)[: setting.targets]
    with Timer() as timer:
        values = {
            "linfik": scorer.score(pool.samples, scorer.target_gradient(targets)),
            "low_perplexity": -scorer.losses(pool.samples),
            "random": np.random.default_rng(ctx.scale.seed).permutation(len(pool)).astype(float),
        }
    labels = {"linfik": "exact LinFiK", "low_perplexity": "lowest perplexity", "random": "random"}
    stats = {method: backdoor_stats(pool, vals) for method, vals in values.items()}
    rows = [[MAIN_TARGET, labels[m], *entry.values()] for m, entry in stats.items()]
    headers = STATS_HEADERS
    n_backdoor = int(pool.is_backdoor.sum())
    intro = (
        f"Checkpoint: {CHECKPOINT} ({scorer.n_params:,} scored parameters), texts cut to "
        f"{MAX_LENGTH} tokens, g_T from {len(targets)} target samples. {n_backdoor} backdoor "
        f"samples in a subset pool of {len(pool)}; {timer.seconds:.0f} s on one CPU thread.\n\n"
    )
    payload = {
        "checkpoint": CHECKPOINT,
        "n_backdoor": n_backdoor,
        "n_pool": len(pool),
        "n_targets": len(targets),
        "scored_params": scorer.n_params,
        "max_length": MAX_LENGTH,
        "score_seconds": timer.seconds,
        "stats": stats,
    }
    write_result(ctx, NAME, payload, intro + markdown_table(headers, rows))
    return payload


if __name__ == "__main__":
    run_main(__doc__.splitlines()[0], run)
