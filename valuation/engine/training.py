"""Training loops of the proxy head: mini-batch regression with early stopping on the
validation Spearman (plus an optional pairwise ranking term)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from valuation.engine.embeddings import DEFAULT_MAX_LENGTH
from valuation.engine.heads import HeadConfig, RegressionHead, TargetScaler, feature_statistics
from valuation.engine.metrics import spearman

__all__ = [
    "TrainConfig",
    "TrainingReport",
    "check_split",
    "fit_loop",
    "pairwise_ranking_loss",
    "single_thread",
    "train_head",
]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; ``ranking_weight`` > 0 adds the pairwise ranking term."""

    max_epochs: int = 300
    patience: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    ranking_weight: float = 0.0
    # Only used when the encoder is fine-tuned; None tunes every transformer layer.
    finetune_layers: int | None = 2
    encoder_learning_rate: float = 3e-5
    finetune_max_epochs: int = 20
    finetune_patience: int = 5
    max_length: int = DEFAULT_MAX_LENGTH

    def __post_init__(self) -> None:
        positive = (
            "max_epochs",
            "patience",
            "batch_size",
            "finetune_max_epochs",
            "finetune_patience",
            "max_length",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(
                    f"TrainConfig.{name} must be at least 1, got {getattr(self, name)}"
                )
        if self.ranking_weight < 0:
            raise ValueError(f"ranking_weight must be >= 0, got {self.ranking_weight}")
        if self.finetune_layers is not None and self.finetune_layers < 1:
            raise ValueError(f"finetune_layers must be >= 1 or None, got {self.finetune_layers}")


@dataclass(frozen=True)
class TrainingReport:
    best_epoch: int
    epochs_run: int
    best_val_spearman: float
    seconds: float


def pairwise_ranking_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean logistic loss over the batch's ordered pairs: penalise pairs ranked the wrong way."""
    wanted = target.unsqueeze(1) > target.unsqueeze(0)
    if not bool(wanted.any()):
        return predicted.sum() * 0.0
    margins = predicted.unsqueeze(1) - predicted.unsqueeze(0)
    return nn.functional.softplus(-margins[wanted]).mean()


@contextmanager
def single_thread() -> Iterator[None]:
    """Run a block on one intra-op thread, restoring the previous setting afterwards.

    The head's matrices are tiny; with several threads, synchronisation dominates and on a
    busy machine one thread was measured 20-40x faster for head training.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _validation_key(predicted: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Early-stopping order: higher Spearman, then lower MSE (Spearman is coarse on few items)."""
    if not np.all(np.isfinite(predicted)):
        return (-math.inf, -math.inf)  # a diverged epoch never counts as best
    rho = spearman(target, predicted) if len(target) >= 2 else math.nan
    mse = float(np.mean((predicted - target) ** 2))
    return (-math.inf if math.isnan(rho) else rho, -mse)


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of what training can change: trainable parameters and buffers.

    Frozen encoder weights are skipped, which keeps early stopping cheap when only the
    last layers of a 22M-parameter encoder are tuned.
    """
    return {
        name: tensor.detach().clone()
        for name, tensor in module.state_dict(keep_vars=True).items()
        if not isinstance(tensor, nn.Parameter) or tensor.requires_grad
    }


def fit_loop(
    *,
    trainable: nn.Module,
    optimizer: torch.optim.Optimizer,
    predict_train_rows: Callable[[np.ndarray], torch.Tensor],
    predict_validation: Callable[[], np.ndarray],
    train_targets: np.ndarray,
    val_targets: np.ndarray,
    config: TrainConfig,
    max_epochs: int,
    patience: int,
    generator: torch.Generator,
    keep_start_if_best: bool = False,
) -> TrainingReport:
    """Mini-batch training with early stopping; ``trainable`` ends at its best epoch.

    With ``keep_start_if_best`` the starting weights compete too (best_epoch -1), so
    fine-tuning can never end worse on validation than the head it started from.
    """
    started = time.perf_counter()
    targets = torch.as_tensor(train_targets, dtype=torch.float32)
    best_key: tuple[float, float] = (-math.inf, -math.inf)
    if keep_start_if_best:
        trainable.eval()
        best_key = _validation_key(predict_validation(), val_targets)
    best_state = _snapshot(trainable)
    best_epoch, epoch = -1, -1
    for epoch in range(max_epochs):
        trainable.train()
        order = torch.randperm(len(targets), generator=generator).numpy()
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            predicted = predict_train_rows(rows)
            loss = nn.functional.mse_loss(predicted, targets[rows])
            if config.ranking_weight > 0:
                loss = loss + config.ranking_weight * pairwise_ranking_loss(
                    predicted, targets[rows]
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        trainable.eval()
        key = _validation_key(predict_validation(), val_targets)
        if key > best_key:
            best_key, best_epoch = key, epoch
            best_state = _snapshot(trainable)
        elif epoch - best_epoch >= patience:
            break
    trainable.load_state_dict(best_state, strict=False)
    trainable.eval()
    return TrainingReport(
        best_epoch=best_epoch,
        epochs_run=epoch + 1,
        best_val_spearman=best_key[0] if best_key[0] > -math.inf else math.nan,
        seconds=time.perf_counter() - started,
    )


def check_split(features: Any, targets: np.ndarray, name: str) -> np.ndarray:
    targets = np.asarray(targets, dtype=np.float64)
    if targets.ndim != 1 or len(features) != len(targets):
        raise ValueError(f"{name}: {len(features)} inputs for targets of shape {targets.shape}")
    if len(targets) == 0:
        raise ValueError(f"{name}: no samples")
    if not np.all(np.isfinite(targets)):
        raise ValueError(f"{name}: targets contain a non-finite value")
    return targets


def train_head(
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    *,
    head_config: HeadConfig | None = None,
    config: TrainConfig | None = None,
    seed: int = 0,
    input_statistics: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[RegressionHead, TargetScaler, TrainingReport]:
    """Train a head on frozen inputs; returns it with the target scaler it expects.

    ``input_statistics`` (mean, scale) standardise the inputs, default: those of
    ``train_x``; the whole pool's (``feature_statistics``) use no labels and are steadier.
    """
    config = config or TrainConfig()
    train_x = np.asarray(train_x, dtype=np.float32)
    val_x = np.asarray(val_x, dtype=np.float32)
    head_config = head_config or HeadConfig(input_dim=train_x.shape[1])
    if train_x.ndim != 2 or train_x.shape[1] != head_config.n_inputs:
        raise ValueError(
            f"train_x has shape {train_x.shape}, head expects [N, {head_config.n_inputs}]"
        )
    if val_x.shape[1:] != train_x.shape[1:]:
        raise ValueError(f"val_x shape {val_x.shape} does not match train_x {train_x.shape}")
    train_y = check_split(train_x, train_y, "training set")
    val_y = check_split(val_x, val_y, "validation set")
    scaler = TargetScaler.fit(train_y)
    with torch.random.fork_rng(devices=[]), single_thread():
        torch.manual_seed(seed)
        head = RegressionHead(head_config)
        head.set_input_statistics(*(input_statistics or feature_statistics(train_x)))
        generator = torch.Generator().manual_seed(seed)
        train_features = torch.from_numpy(train_x)
        val_features = torch.from_numpy(val_x)

        def predict_validation() -> np.ndarray:
            with torch.no_grad():
                return head(val_features).double().numpy()

        report = fit_loop(
            trainable=head,
            optimizer=torch.optim.AdamW(
                head.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
            ),
            predict_train_rows=lambda rows: head(train_features[rows]),
            predict_validation=predict_validation,
            train_targets=scaler.transform(train_y),
            val_targets=scaler.transform(val_y),
            config=config,
            max_epochs=config.max_epochs,
            patience=config.patience,
            generator=generator,
        )
    return head, scaler, report
