"""Experiments 4-6 on SmolLM2-135M: gradient stability while fine-tuning a real LLM.

The product's default model (SmolLM2-135M-Instruct, from the packaged GGUF) is
fine-tuned on random demo-pool batches with only its last two transformer blocks
trainable (7.1 M of 134.5 M parameters; the rest stays frozen so a step costs little
more than a forward pass on the 2-core CPU). At each saved step, for a stratified sample
of the pool, over the trainable blocks:

* cos(g_t, g_final) and cos(g_t, g_next) (Proposition 1),
* Spearman of per-sample gradient norms with the final ones (Proposition 2),
* Spearman of LinFiK_t (main target) with the final LinFiK.

Texts are truncated to ``MAX_LENGTH`` tokens throughout. The trained blocks are cached
under ``var/experiments/<scale>/smollm2``.

    python -m experiments.stability_smollm2 [--quick]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

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
    seed_everything,
    write_result,
)
from experiments.lm import Schedule, train
from experiments.stability import flat_gradients, gradient_trajectory, stratified_rows, summarise
from valuation.engine.analysis import rank_correlation
from valuation.engine.data import pad_token_id, tokenize_samples
from valuation.engine.exact import ExactLinFiK
from valuation.engine.models import load_model

NAME = "stability_smollm2"
PARAM_FILTER = r"model\.layers\.(28|29)\."
MAX_LENGTH = 64


@dataclass(frozen=True)
class Setting:
    steps: int
    checkpoints: tuple[int, ...]
    batch_size: int
    peak_lr: float
    per_dataset: int


SETTINGS = {
    "full": Setting(30, (0, 3, 6, 12, 20, 30), batch_size=8, peak_lr=2e-4, per_dataset=5),
    "quick": Setting(2, (0, 1, 2), batch_size=2, peak_lr=2e-4, per_dataset=1),
}


def _trainable(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """Freeze everything outside PARAM_FILTER; return the trainable parameters."""
    pattern = re.compile(PARAM_FILTER)
    trainable = {}
    for name, param in model.named_parameters():
        param.requires_grad_(pattern.search(name) is not None)
        if param.requires_grad:
            trainable[name] = param
    return trainable


def _finetune(ctx: Context, loaded, setting: Setting) -> dict[int, dict[str, torch.Tensor]]:
    """Fine-tune the trainable blocks; the trainable state at every checkpoint (cached)."""
    folder = ctx.paths.root / "smollm2"
    paths = {step: folder / f"step-{step:04d}.safetensors" for step in setting.checkpoints}
    if all(path.is_file() for path in paths.values()):
        return {step: load_file(path) for step, path in paths.items()}
    folder.mkdir(parents=True, exist_ok=True)
    seed_everything(ctx.scale.seed)
    pool = load_pool(ctx.scale)
    data = tokenize_samples(pool.samples, loaded.tokenizer, MAX_LENGTH)
    params = _trainable(loaded.model)

    def on_step(step: int, model: torch.nn.Module) -> None:
        if step in paths:
            save_file({n: p.detach().clone().contiguous() for n, p in params.items()}, paths[step])

    schedule = Schedule(setting.steps, setting.peak_lr, warmup=max(1, setting.steps // 10))
    with Timer() as timer:
        log = train(
            loaded.model,
            data,
            schedule,
            batch_size=setting.batch_size,
            pad_id=pad_token_id(loaded.tokenizer),
            seed=ctx.scale.seed,
            on_step=on_step,
        )
    (folder / "train.json").write_text(
        json.dumps({"train_loss": log.train_loss, "seconds": timer.seconds}), encoding="utf-8"
    )
    return {step: load_file(path) for step, path in paths.items()}


def _load_state(params: dict[str, torch.nn.Parameter], state: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(state[name])


def _at_checkpoint(scorer: ExactLinFiK, params, state):
    def gradients(samples):
        _load_state(params, state)
        return flat_gradients(scorer, samples)

    return gradients


def _linfik(scorer: ExactLinFiK, params, states, steps, samples) -> np.ndarray:
    """LinFiK of ``samples`` at every checkpoint, over the trainable blocks."""
    targets = load_targets(MAIN_TARGET)
    out = np.empty((len(steps), len(samples)))
    for c, step in enumerate(steps):
        _load_state(params, states[step])
        out[c] = scorer.score(samples, scorer.target_gradient(targets))
    return out


def _plot(ctx: Context, summary: dict[str, Any], linfik_rank: list[float], title: str) -> None:
    plt = plt_module()
    steps = np.array(summary["steps"])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    stats = summary["cos_final"]
    ax.plot(steps, stats["mean"], marker="o", ms=3, label="cos(g_t, g_final): mean")
    ax.fill_between(steps, stats["q25"], stats["q75"], alpha=0.25, label="quartiles")
    ax.plot(
        steps[:-1], summary["cos_next"]["mean"], marker="o", ms=3, label="cos(g_t, g_next): mean"
    )
    ax.plot(
        steps, summary["norm_spearman_final"], marker="s", ms=3, label="Spearman ||g_t|| vs final"
    )
    ax.plot(
        steps, linfik_rank, marker="^", ms=3, label=f"Spearman LinFiK_t vs final ({MAIN_TARGET})"
    )
    ax.set_xlabel("fine-tuning step")
    ax.set_ylim(-0.1, 1.02)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    save_figure(ctx, fig, "stability_smollm2")


def run(ctx: Context) -> dict[str, Any]:
    setting = SETTINGS[ctx.scale.name]
    loaded = load_model("smollm2-135m", device="cpu")
    states = _finetune(ctx, loaded, setting)
    loaded.model.eval()
    params = _trainable(loaded.model)
    scorer = ExactLinFiK(
        loaded.model,
        loaded.tokenizer,
        max_length=MAX_LENGTH,
        batch_size=8,
        param_filter=PARAM_FILTER,
    )
    pool = load_pool(ctx.scale)
    rows = stratified_rows(pool, setting.per_dataset, seed=ctx.scale.seed + 3)
    samples = [pool.samples[i] for i in rows]
    steps = list(setting.checkpoints)
    with Timer() as timer:
        trajectory = gradient_trajectory(
            [_at_checkpoint(scorer, params, states[step]) for step in steps], samples, chunk=8
        )
        linfik = _linfik(scorer, params, states, steps, samples)
    summary = summarise(steps, trajectory)
    linfik_rank = [rank_correlation(values, linfik[-1]) for values in linfik]
    title = f"SmolLM2-135M, last 2 blocks ({scorer.n_params:,} params), {len(samples)} pool samples"
    _plot(ctx, summary, linfik_rank, title)
    rows_md = [
        [
            step,
            summary["cos_final"]["mean"][c],
            summary["cos_next"]["mean"][c] if c < len(steps) - 1 else float("nan"),
            summary["norm_spearman_final"][c],
            linfik_rank[c],
        ]
        for c, step in enumerate(steps)
    ]
    headers = [
        "fine-tuning step",
        "mean cos(g_t, g_final)",
        "mean cos(g_t, g_next)",
        "Spearman norms vs final",
        "Spearman LinFiK vs final",
    ]
    train_log = json.loads((ctx.paths.root / "smollm2" / "train.json").read_text())
    payload = {
        "n_samples": len(samples),
        "scored_params": scorer.n_params,
        "max_length": MAX_LENGTH,
        "setting": setting.__dict__,
        "finetune_seconds": train_log["seconds"],
        "finetune_loss": train_log["train_loss"],
        "analysis_seconds": timer.seconds,
        "linfik_spearman_final": linfik_rank,
        **summary,
    }
    write_result(ctx, NAME, payload, markdown_table(headers, rows_md))
    return payload


if __name__ == "__main__":
    run_main(__doc__.splitlines()[0], run)
