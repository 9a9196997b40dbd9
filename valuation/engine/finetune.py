"""Fine-tuning the sentence encoder's last layers together with a proxy head."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from valuation.engine.embeddings import SentenceEncoder
from valuation.engine.heads import HeadConfig, RegressionHead, TargetScaler, length_column
from valuation.engine.training import (
    TrainConfig,
    TrainingReport,
    check_split,
    fit_loop,
    train_head,
)

__all__ = ["train_finetuned"]


def _unfreeze(encoder: SentenceEncoder, last_layers: int | None) -> list[nn.Parameter]:
    """Make the last ``last_layers`` transformer layers (all weights if None) trainable."""
    model = encoder.model
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    if last_layers is None:
        modules: Sequence[nn.Module] = [model]
    else:
        layers = model.encoder.layer
        if last_layers > len(layers):
            raise ValueError(
                f"cannot fine-tune {last_layers} layers of a {len(layers)}-layer encoder"
            )
        modules = list(layers[len(layers) - last_layers :])
    trainable = [p for module in modules for p in module.parameters()]
    for parameter in trainable:
        parameter.requires_grad_(True)
    return trainable


class _EncoderWithHead(nn.Module):
    """Groups encoder and head so early stopping snapshots and restores both together."""

    def __init__(self, encoder: SentenceEncoder, head: RegressionHead) -> None:
        super().__init__()
        self.encoder_model = encoder.model
        self.head = head


def train_finetuned(
    encoder: SentenceEncoder,
    train_texts: Sequence[str],
    train_y: np.ndarray,
    val_texts: Sequence[str],
    val_y: np.ndarray,
    *,
    head_config: HeadConfig | None = None,
    config: TrainConfig | None = None,
    seed: int = 0,
    token_counts: tuple[np.ndarray, np.ndarray] | None = None,
    frozen_inputs: tuple[np.ndarray, np.ndarray] | None = None,
    input_statistics: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[SentenceEncoder, RegressionHead, TargetScaler, TrainingReport]:
    """Fine-tune a copy of ``encoder`` (last ``config.finetune_layers`` layers) with a head.

    The head is first fitted on frozen-encoder inputs (``frozen_inputs`` = train and
    validation rows if already computed), so fine-tuning starts from a sensible regressor
    instead of letting random head gradients disturb the encoder. ``token_counts`` (train,
    validation) are needed when the head uses the length feature. The caller's encoder is
    left untouched.
    """
    config = config or TrainConfig()
    head_config = head_config or HeadConfig(input_dim=encoder.dim)
    if head_config.extra_dim:
        raise ValueError(
            "fine-tuning the encoder is not supported for a head with extra feature columns; "
            "use the frozen encoder"
        )
    train_y = check_split(train_texts, train_y, "training set")
    val_y = check_split(val_texts, val_y, "validation set")
    train_counts, val_counts = token_counts if token_counts is not None else (None, None)

    def inputs(embedded: torch.Tensor, counts: np.ndarray | None) -> torch.Tensor:
        if not head_config.length_feature:
            return embedded
        if counts is None:
            raise ValueError("this head uses a length feature: token_counts are required")
        column = torch.from_numpy(length_column(counts, config.max_length))
        return torch.cat([embedded, column.to(embedded.dtype)], dim=1)

    if frozen_inputs is None:
        frozen_inputs = tuple(
            inputs(
                torch.from_numpy(encoder.encode(texts, config.batch_size, config.max_length)),
                counts,
            ).numpy()
            for texts, counts in ((train_texts, train_counts), (val_texts, val_counts))
        )
    head, scaler, head_report = train_head(
        frozen_inputs[0],
        train_y,
        frozen_inputs[1],
        val_y,
        head_config=head_config,
        config=config,
        seed=seed,
        input_statistics=input_statistics,
    )
    tuned = encoder.copy()
    encoder_params = _unfreeze(tuned, config.finetune_layers)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)

        def predict_train_rows(rows: np.ndarray) -> torch.Tensor:
            batch = tuned.tokenize([train_texts[i] for i in rows], config.max_length)
            counts = None if train_counts is None else np.asarray(train_counts)[rows]
            return head(inputs(tuned.embed(batch), counts))

        def predict_validation() -> np.ndarray:
            embedded = tuned.encode(val_texts, config.batch_size, config.max_length)
            with torch.no_grad():
                return head(inputs(torch.from_numpy(embedded), val_counts)).double().numpy()

        optimizer = torch.optim.AdamW(
            [
                {"params": encoder_params, "lr": config.encoder_learning_rate},
                {"params": list(head.parameters()), "lr": config.learning_rate * 0.1},
            ],
            weight_decay=config.weight_decay,
        )
        report = fit_loop(
            trainable=_EncoderWithHead(tuned, head),
            optimizer=optimizer,
            predict_train_rows=predict_train_rows,
            predict_validation=predict_validation,
            train_targets=scaler.transform(train_y),
            val_targets=scaler.transform(val_y),
            config=config,
            max_epochs=config.finetune_max_epochs,
            patience=config.finetune_patience,
            generator=torch.Generator().manual_seed(seed),
            keep_start_if_best=True,
        )
    for parameter in tuned.model.parameters():
        parameter.requires_grad_(False)
    tuned.identity = f"{encoder.base_identity}+finetuned:sha256:{tuned.weights_digest()}"
    total = TrainingReport(
        best_epoch=report.best_epoch,
        epochs_run=report.epochs_run,
        best_val_spearman=report.best_val_spearman,
        seconds=report.seconds + head_report.seconds,
    )
    return tuned, head, scaler, total
