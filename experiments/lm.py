"""The small GPT-2-style model of the experiments: tokenizer, training loop and checkpoints.

The training loss is exactly the engine's per-sample loss (mean token cross-entropy over
predicted positions, response tokens only for prompt/response pairs) averaged over the
batch, so a training step on z moves theta along -grad l(z), the direction LinFiK
linearises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from experiments.common import Context, Scale
from valuation.engine.data import Sample, TokenizedSample, collate, tokenize_samples
from valuation.engine.exact import per_sample_loss
from valuation.engine.models import LoadedModel, load_model

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")


def train_tokenizer(texts: Sequence[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on the pool; texts start with <bos> so their first token counts."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    bos = backend.token_to_id("<bos>")
    backend.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", bos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>"
    )


def ensure_tokenizer(ctx: Context, samples: Sequence[Sample]) -> PreTrainedTokenizerFast:
    path = ctx.paths.tokenizer
    if not (path / "tokenizer.json").is_file():
        tokenizer = train_tokenizer([s.display_text for s in samples], ctx.scale.vocab_size)
        tokenizer.save_pretrained(path)
    return PreTrainedTokenizerFast.from_pretrained(str(path), local_files_only=True)


def build_model(scale: Scale, tokenizer: Any, seed: int, **overrides: int) -> GPT2LMHeadModel:
    """A freshly initialised GPT-2 (no dropout: the trained loss is the valued loss)."""
    torch.manual_seed(seed)
    sizes = {"n_layer": scale.n_layer, "n_embd": scale.n_embd, "n_head": scale.n_head}
    sizes.update(overrides)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=scale.context,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **sizes,
    )
    return GPT2LMHeadModel(config)


def save_checkpoint(model: torch.nn.Module, tokenizer: Any, path: Path) -> None:
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def load_checkpoint(path: Path) -> LoadedModel:
    """A saved checkpoint through the engine's loader (eager attention, eval mode, CPU)."""
    return load_model(path, device="cpu", dtype="float32")


def tokenize(samples: Sequence[Sample], tokenizer: Any, scale: Scale) -> list[TokenizedSample]:
    return tokenize_samples(samples, tokenizer, scale.context)


# ----- training -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """AdamW with linear warm-up, then cosine decay to ``floor`` x the peak rate."""

    steps: int
    peak_lr: float
    warmup: int
    floor: float = 0.1
    weight_decay: float = 0.01

    def lr(self, step: int) -> float:
        if step < self.warmup:
            return self.peak_lr * (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.steps - self.warmup)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return self.peak_lr * (self.floor + (1.0 - self.floor) * cosine)


@dataclass
class TrainLog:
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)


def _epoch_batches(
    n: int, batch_size: int, generator: torch.Generator, shuffle: bool = True
) -> list[list[int]]:
    order = torch.randperm(n, generator=generator).tolist() if shuffle else list(range(n))
    return [order[k : k + batch_size] for k in range(0, n, batch_size)]


def batch_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    inputs = {key: batch[key] for key in ("input_ids", "attention_mask", "position_ids")}
    logits = model(**inputs, use_cache=False).logits
    return per_sample_loss(logits, batch["labels"]).mean()


def mean_loss(
    model: torch.nn.Module, data: Sequence[TokenizedSample], pad_id: int, batch_size: int = 32
) -> float:
    """Mean over samples of the per-sample loss (the target loss L_T)."""
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = collate(data[start : start + batch_size], pad_id)
            inputs = {key: batch[key] for key in ("input_ids", "attention_mask", "position_ids")}
            losses = per_sample_loss(model(**inputs, use_cache=False).logits, batch["labels"])
            total += float(losses.sum())
    model.train(was_training)
    return total / len(data)


def train(
    model: torch.nn.Module,
    data: Sequence[TokenizedSample],
    schedule: Schedule,
    *,
    batch_size: int,
    pad_id: int,
    seed: int,
    evaluate: Callable[[torch.nn.Module], float] | None = None,
    eval_steps: Sequence[int] = (),
    on_step: Callable[[int, torch.nn.Module], None] | None = None,
    shuffle: bool = True,
) -> TrainLog:
    """Shuffled epochs over ``data`` for ``schedule.steps`` steps.

    ``on_step(step, model)`` runs before step ``step`` (and once after the last, with
    ``step == schedule.steps``), which is where checkpoints are saved; ``evaluate`` runs
    at ``eval_steps`` on the same convention. ``shuffle=False`` keeps the given order
    (cycling through it), so runs on overlapping data can share their batch order.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=schedule.peak_lr,
        betas=(0.9, 0.95),
        weight_decay=schedule.weight_decay,
    )
    log, queue, wanted = TrainLog(), [], set(eval_steps)
    model.train()
    for step in range(schedule.steps + 1):
        if on_step is not None:
            on_step(step, model)
        if evaluate is not None and step in wanted:
            log.eval_steps.append(step)
            log.eval_loss.append(evaluate(model))
        if step == schedule.steps:
            break
        if not queue:
            queue = _epoch_batches(len(data), batch_size, generator, shuffle)
        batch = collate([data[i] for i in queue.pop(0)], pad_id)
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr(step)
        loss = batch_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        log.steps.append(step)
        log.train_loss.append(loss.item())
    model.eval()
    return log


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average, for plotting noisy training losses."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    head = np.cumsum(values[: window - 1]) / np.arange(1, window)
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


# ----- continued training from the scoring checkpoint ----------------------------------------


@dataclass(frozen=True)
class Continuation:
    """Training on a chosen subset, starting from the scoring checkpoint with fresh AdamW."""

    steps: int
    batch_size: int
    peak_lr: float
    warmup: int
    eval_every: int

    def schedule(self) -> Schedule:
        return Schedule(self.steps, self.peak_lr, warmup=self.warmup)

    def eval_steps(self) -> list[int]:
        return list(range(0, self.steps + 1, self.eval_every))


CONTINUATION = {
    "full": Continuation(steps=100, batch_size=16, peak_lr=1e-3, warmup=10, eval_every=10),
    "quick": Continuation(steps=4, batch_size=4, peak_lr=1e-3, warmup=1, eval_every=2),
}


def continue_training(
    ctx: Context,
    samples: Sequence[Sample],
    eval_sets: dict[str, Sequence[Sample]],
    seed: int,
    config: Continuation | None = None,
    shuffle: bool = True,
) -> dict[str, Any]:
    """Train a copy of the scoring checkpoint on ``samples``; target losses along the way."""
    loaded = load_checkpoint(ctx.paths.checkpoint(ctx.scale.score_step))
    model, tokenizer = loaded.model, loaded.tokenizer
    model.set_attn_implementation("sdpa")  # faster; scoring elsewhere uses eager (for JVP)
    pad = tokenizer.pad_token_id
    data = tokenize(samples, tokenizer, ctx.scale)
    sets = {name: tokenize(rows, tokenizer, ctx.scale) for name, rows in eval_sets.items()}
    losses: dict[str, list[float]] = {name: [] for name in sets}

    def evaluate(current: torch.nn.Module) -> float:
        for name, rows in sets.items():
            losses[name].append(mean_loss(current, rows, pad))
        return losses[next(iter(sets))][-1]

    config = config or CONTINUATION[ctx.scale.name]
    log = train(
        model,
        data,
        config.schedule(),
        batch_size=config.batch_size,
        pad_id=pad,
        seed=seed,
        evaluate=evaluate,
        eval_steps=config.eval_steps(),
        shuffle=shuffle,
    )
    return {"eval_steps": log.eval_steps, "losses": losses, "train_loss": log.train_loss}
