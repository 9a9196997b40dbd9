"""Shared setup: pretrain the small GPT-2 from scratch on the demo pool, saving checkpoints.

Every other experiment calls ``ensure_pretrained`` and reuses the cached tokenizer and
checkpoints (``var/experiments/<scale>/checkpoints/step-NNNNNN``, Hugging Face folders
loadable by ``valuation.engine.load_model``). Deterministic: seed ``scale.seed`` fixes the
initialisation and the batch order.

    python -m experiments.pretrain [--quick]
"""

from __future__ import annotations

import json
from typing import Any

from experiments.common import (
    TARGET_NAMES,
    Context,
    Timer,
    load_pool,
    load_targets,
    markdown_table,
    plt_module,
    run_main,
    save_figure,
    seed_everything,
    write_result,
)
from experiments.lm import (
    Schedule,
    build_model,
    ensure_tokenizer,
    mean_loss,
    save_checkpoint,
    smooth,
    tokenize,
    train,
)
from valuation.engine.data import pad_token_id

NAME = "pretrain"


def _log_path(ctx: Context):
    return ctx.paths.root / "pretrain.json"


def _is_complete(ctx: Context) -> bool:
    if not _log_path(ctx).is_file():
        return False
    return all(
        (ctx.paths.checkpoint(step) / "model.safetensors").is_file()
        for step in ctx.scale.checkpoint_steps
    )


def ensure_pretrained(ctx: Context) -> dict[str, Any]:
    """Train once per scale; later calls read the saved log."""
    if not _is_complete(ctx):
        _pretrain(ctx)
    return json.loads(_log_path(ctx).read_text(encoding="utf-8"))


def _pretrain(ctx: Context) -> None:
    scale = ctx.scale
    seed_everything(scale.seed)
    pool = load_pool(scale)
    tokenizer = ensure_tokenizer(ctx, pool.samples)
    data = tokenize(pool.samples, tokenizer, scale)
    targets = {name: tokenize(load_targets(name, "all"), tokenizer, scale) for name in TARGET_NAMES}
    pad = pad_token_id(tokenizer)
    model = build_model(scale, tokenizer, scale.seed)
    target_losses: dict[str, list[float]] = {name: [] for name in TARGET_NAMES}

    def on_step(step, current) -> None:
        if step in scale.checkpoint_steps:
            save_checkpoint(current, tokenizer, ctx.paths.checkpoint(step))
            for name, rows in targets.items():
                target_losses[name].append(mean_loss(current, rows, pad))
            print(
                f"step {step}: target losses "
                + ", ".join(f"{name} {losses[-1]:.3f}" for name, losses in target_losses.items()),
                flush=True,
            )

    schedule = Schedule(
        scale.pretrain_steps, scale.learning_rate, warmup=scale.pretrain_steps // 20
    )
    with Timer() as timer:
        log = train(
            model,
            data,
            schedule,
            batch_size=scale.batch_size,
            pad_id=pad,
            seed=scale.seed,
            on_step=on_step,
        )
    payload = {
        "n_samples": len(data),
        "n_tokens": sum(len(row.input_ids) for row in data),
        "n_params": sum(p.numel() for p in model.parameters()),
        "config": {
            "n_layer": scale.n_layer,
            "n_embd": scale.n_embd,
            "n_head": scale.n_head,
            "context": scale.context,
            "vocab_size": len(tokenizer),
            "steps": scale.pretrain_steps,
            "batch_size": scale.batch_size,
            "peak_lr": scale.learning_rate,
            "seed": scale.seed,
        },
        "seconds": timer.seconds,
        "train_loss": log.train_loss,
        "checkpoint_steps": list(scale.checkpoint_steps),
        "lr": [schedule.lr(step) for step in range(scale.pretrain_steps)],
        "target_loss": target_losses,
    }
    _log_path(ctx).write_text(json.dumps(payload), encoding="utf-8")


def run(ctx: Context) -> dict[str, Any]:
    log = ensure_pretrained(ctx)
    plt = plt_module()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    losses = log["train_loss"]
    ax.plot(range(len(losses)), smooth(losses, 10), label="train batch loss (10-step mean)")
    for name, values in log["target_loss"].items():
        ax.plot(log["checkpoint_steps"], values, marker="o", ms=3, label=f"target: {name}")
    ax.axvline(ctx.scale.score_step, color="grey", ls=":", label="scoring checkpoint")
    ax.set_xlabel("pretraining step")
    ax.set_ylabel("mean token cross-entropy")
    ax.legend(fontsize=7)
    save_figure(ctx, fig, "pretraining_loss")
    rows = [
        [step, *(log["target_loss"][name][i] for name in TARGET_NAMES)]
        for i, step in enumerate(log["checkpoint_steps"])
    ]
    table = markdown_table(["step", *(f"target loss: {name}" for name in TARGET_NAMES)], rows)
    summary = {key: log[key] for key in ("n_samples", "n_tokens", "n_params", "config", "seconds")}
    write_result(ctx, NAME, {**summary, "target_loss": log["target_loss"]}, table)
    return log


if __name__ == "__main__":
    run_main(__doc__.splitlines()[0], run)
