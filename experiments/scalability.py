"""Experiment 11: cost of exact LinFiK and of ALinFiK as the model grows.

GPT-2-style models of growing depth and width (randomly initialised: cost does not depend
on the weights) and SmolLM2-135M (the product's default model) score the same pool
samples with the engine's exact LinFiK (forward-mode JVP), over all parameters and over a
last-block subset. ALinFiK's cost per sample is measured from its parts: the MiniLM
embedding (once per pool, independent of the model and the task), the exact labels of
the labelled fraction, and head training plus prediction. Timings are wall-clock on the
shared 2-core CPU with one thread, so they are noisy; the trend is the point.

    python -m experiments.scalability [--quick] [--no-smollm]
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
from experiments.lm import build_model, ensure_tokenizer
from experiments.pretrain import ensure_pretrained
from experiments.scoring import hashing_embeddings
from experiments.stability import stratified_rows
from valuation.engine.exact import ExactLinFiK
from valuation.engine.models import load_model, wrap_model
from valuation.engine.training import train_head

NAME = "scalability"
SIZES = {
    "full": ((2, 64), (4, 128), (6, 256), (8, 384), (12, 512)),
    "quick": ((1, 16), (2, 32)),
}
PER_DATASET = {"full": 4, "quick": 1}  # timed samples per provider dataset
LABEL_FRACTION = 0.1
POOL_SIZES = (6_500, 1_000_000)


def _timed_scores(scorer: ExactLinFiK, samples, targets) -> dict[str, float]:
    scorer.score(samples[:2], scorer.target_gradient(targets[:2]))  # warm-up
    with Timer() as grad_timer:
        gradient = scorer.target_gradient(targets)
    with Timer() as score_timer:
        scorer.score(samples, gradient)
    return {
        "target_gradient_seconds": grad_timer.seconds,
        "seconds_per_sample": score_timer.seconds / len(samples),
        "scored_params": scorer.n_params,
    }


def _last_block_filter(n_layer: int, prefix: str) -> str:
    return rf"{prefix}\.{n_layer - 1}\."


def measure_model(loaded, samples, targets, context: int, last_block: str) -> dict[str, Any]:
    full = ExactLinFiK(loaded.model, loaded.tokenizer, max_length=context, batch_size=8)
    subset = ExactLinFiK(
        loaded.model, loaded.tokenizer, max_length=context, batch_size=8, param_filter=last_block
    )
    return {
        "name": loaded.name,
        "n_params": loaded.n_params,
        "all_params": _timed_scores(full, samples, targets),
        "last_block": _timed_scores(subset, samples, targets),
    }


def _gpt2_rows(ctx: Context, samples, targets) -> list[dict[str, Any]]:
    tokenizer = ensure_tokenizer(ctx, load_pool(ctx.scale).samples)
    rows = []
    for n_layer, n_embd in SIZES[ctx.scale.name]:
        model = build_model(
            ctx.scale,
            tokenizer,
            seed=0,
            n_layer=n_layer,
            n_embd=n_embd,
            n_head=max(1, n_embd // 64),
        )
        model.set_attn_implementation("eager")  # forward-mode AD needs eager attention
        loaded = wrap_model(model, tokenizer, name=f"gpt2 {n_layer}x{n_embd}")
        rows.append(
            measure_model(
                loaded, samples, targets, ctx.scale.context, _last_block_filter(n_layer, r"\.h")
            )
        )
        print(
            f"{loaded.name}: {rows[-1]['all_params']['seconds_per_sample']:.3f} s/sample",
            flush=True,
        )
    return rows


def _smollm_row(ctx: Context, samples, targets) -> dict[str, Any]:
    with Timer() as timer:
        loaded = load_model("smollm2-135m", device="cpu")
    n_layer = loaded.model.config.num_hidden_layers
    row = measure_model(
        loaded, samples, targets, ctx.scale.context, _last_block_filter(n_layer, r"layers")
    )
    row["load_seconds"] = timer.seconds
    print(f"smollm2: {row['all_params']['seconds_per_sample']:.3f} s/sample", flush=True)
    return row


def proxy_costs(ctx: Context, samples) -> dict[str, float]:
    """Per-sample embedding time, head training time on a 10 % label set, prediction time."""
    texts = [s.display_text for s in samples]
    with Timer() as embed_timer:
        if ctx.scale.encoder == "hashing":
            embeddings = hashing_embeddings(texts)
        else:
            from valuation.engine.embeddings import SentenceEncoder

            encoder = SentenceEncoder()
            encoder.encode(texts[:2], batch_size=32, max_length=ctx.scale.context)  # warm-up
            with Timer() as inner:
                embeddings = encoder.encode(texts, batch_size=32, max_length=ctx.scale.context)
    embed_seconds = inner.seconds if ctx.scale.encoder != "hashing" else embed_timer.seconds
    n_train = int(LABEL_FRACTION * POOL_SIZES[0] * 0.6)  # engine split: 60 % train
    rng = np.random.default_rng(0)
    features = embeddings[rng.integers(0, len(embeddings), n_train)]
    features = features + 0.01 * rng.standard_normal(features.shape).astype(np.float32)
    labels = rng.standard_normal(n_train)
    head, scaler, report = train_head(
        features[: n_train * 3 // 4],
        labels[: n_train * 3 // 4],
        features[n_train * 3 // 4 :],
        labels[n_train * 3 // 4 :],
    )
    return {
        "embed_seconds_per_sample": embed_seconds / len(samples),
        "head_train_seconds": report.seconds,
        "n_head_train": n_train,
    }


def projected(row: dict[str, Any], proxy: dict[str, float], n_pool: int) -> dict[str, float]:
    """Seconds to value a pool of ``n_pool`` samples for one task."""
    exact = row["all_params"]["seconds_per_sample"]
    labels = LABEL_FRACTION * n_pool * exact + row["all_params"]["target_gradient_seconds"]
    return {
        "exact_linfik": n_pool * exact + row["all_params"]["target_gradient_seconds"],
        "alinfik_task": labels + proxy["head_train_seconds"],
        "embedding_once": n_pool * proxy["embed_seconds_per_sample"],
    }


def _plot(ctx: Context, rows, proxy) -> None:
    plt = plt_module()
    fig, ax = plt.subplots(figsize=(6.2, 3.8))
    params = np.array([r["n_params"] for r in rows])
    order = np.argsort(params)
    params = params[order]
    pick = lambda key, part: np.array([r[part][key] for r in rows])[order]  # noqa: E731
    exact = pick("seconds_per_sample", "all_params")
    ax.plot(params, exact, marker="o", label="exact LinFiK, all parameters")
    ax.plot(
        params,
        pick("seconds_per_sample", "last_block"),
        marker="s",
        label="exact LinFiK, last block only",
    )
    n = POOL_SIZES[0]
    alinfik = LABEL_FRACTION * exact + proxy["head_train_seconds"] / n
    ax.plot(
        params, alinfik, marker="^", label=f"ALinFiK per task ({100 * LABEL_FRACTION:g}% labels)"
    )
    ax.axhline(
        proxy["embed_seconds_per_sample"],
        color="grey",
        ls=":",
        label="MiniLM embedding (once per sample, any model/task)",
    )
    for r, p, e in zip(np.array(rows, dtype=object)[order], params, exact, strict=True):
        ax.annotate(r["name"], (p, e), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("model parameters")
    ax.set_ylabel("seconds per pool sample (1 CPU thread)")
    ax.set_title(f"cost per sample for a pool of {n:,}, target {MAIN_TARGET}", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(ctx, fig, "scalability")


def _table(rows, proxy) -> str:
    out = []
    for r in sorted(rows, key=lambda r: r["n_params"]):
        costs = [projected(r, proxy, n) for n in POOL_SIZES]
        out.append(
            [
                r["name"],
                f"{r['n_params']:,}",
                r["all_params"]["seconds_per_sample"],
                r["last_block"]["seconds_per_sample"],
                f"{r['last_block']['scored_params']:,}",
                *(
                    f"{c['exact_linfik'] / 3600:.2f} h / {c['alinfik_task'] / 3600:.2f} h"
                    for c in costs
                ),
            ]
        )
    headers = [
        "model",
        "params",
        "exact s/sample (all)",
        "exact s/sample (last block)",
        "last-block params",
        *(f"pool {n:,}: exact / ALinFiK per task" for n in POOL_SIZES),
    ]
    note = (
        f"\nMiniLM embedding: {proxy['embed_seconds_per_sample']:.4f} s/sample, paid once "
        f"per sample at ingest for every model and task; head training "
        f"{proxy['head_train_seconds']:.1f} s on {proxy['n_head_train']} labels.\n"
    )
    return markdown_table(headers, out) + note


def run(ctx: Context, no_smollm: bool = False) -> dict[str, Any]:
    ensure_pretrained(ctx)
    pool = load_pool(ctx.scale)
    rows_idx = stratified_rows(pool, PER_DATASET[ctx.scale.name], seed=ctx.scale.seed + 2)
    samples = [pool.samples[i] for i in rows_idx]
    targets = load_targets(MAIN_TARGET)
    rows = _gpt2_rows(ctx, samples, targets)
    if not (no_smollm or ctx.quick):
        rows.append(_smollm_row(ctx, samples, targets))
    proxy = proxy_costs(ctx, samples)
    _plot(ctx, rows, proxy)
    payload = {
        "n_timed_samples": len(samples),
        "label_fraction": LABEL_FRACTION,
        "rows": rows,
        "proxy": proxy,
        "projected": {r["name"]: {n: projected(r, proxy, n) for n in POOL_SIZES} for r in rows},
    }
    write_result(ctx, NAME, payload, _table(rows, proxy))
    return payload


OPTIONS = [("--no-smollm", {"action": "store_true", "help": "skip SmolLM2-135M"})]

if __name__ == "__main__":
    run_main(__doc__.splitlines()[0], run, OPTIONS)
