"""The learned LinFiK proxy: a small regression head on (frozen or fine-tuned) sentence embeddings.

Training regresses z-normalised exact LinFiK scores with MSE (plus an optional pairwise
ranking term) and keeps the epoch with the best validation Spearman. A trained proxy
saves to one safetensors file whose metadata JSON records everything needed to trust
and reproduce its scores.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from valuation.engine.embeddings import DEFAULT_MAX_LENGTH, SentenceEncoder
from valuation.engine.metrics import spearman

__all__ = [
    "FORMAT_VERSION",
    "HeadConfig",
    "LinFiKProxy",
    "ProxyFileError",
    "ProxyMetadata",
    "EnsembleHead",
    "RegressionHead",
    "TargetScaler",
    "TrainConfig",
    "TrainingReport",
    "build_head",
    "feature_statistics",
    "length_column",
    "pairwise_ranking_loss",
    "proxy_inputs",
    "single_thread",
    "train_finetuned",
    "train_head",
]

FORMAT_VERSION = 1
_METADATA_KEY = "alinfik"


@dataclass(frozen=True)
class HeadConfig:
    """MLP architecture: inputs -> hidden_dims (GELU, dropout) -> 1, ``members`` times.

    ``input_dim`` is the embedding width; ``length_feature`` appends one input, the log
    of the sample's token count capped at max_length (see ``length_column``);
    ``extra_dim`` appends that many precomputed per-sample columns (e.g. the scored
    model's token features, ``token_features.py``), named in ``ProxyMetadata.extra_features``.
    ``members`` > 1 is a cross-fitted ensemble of such MLPs (``EnsembleHead``).
    """

    input_dim: int = 384
    # Two hidden layers ranked the demo pool better than one of 256 (docs/benchmarks.md).
    hidden_dims: tuple[int, ...] = (512, 128)
    dropout: float = 0.1
    length_feature: bool = False
    extra_dim: int = 0
    members: int = 1

    def __post_init__(self) -> None:
        if self.input_dim < 1 or any(width < 1 for width in self.hidden_dims):
            raise ValueError(f"layer widths must be positive, got {self}")
        if self.members < 1:
            raise ValueError(f"members must be at least 1, got {self.members}")
        if self.extra_dim < 0:
            raise ValueError(f"extra_dim must be >= 0, got {self.extra_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def n_inputs(self) -> int:
        return self.input_dim + int(self.length_feature) + self.extra_dim


def length_column(token_counts: np.ndarray, max_length: int) -> np.ndarray:
    """log(min(count, max_length)) as a float32 column [N, 1].

    Exact LinFiK averages the loss over at most max_length tokens, so short samples get
    large, noisy gradients: on the demo pool with SmolLM2-135M, Spearman(LinFiK, this
    column) was -0.72, while mean-pooled unit embeddings carry little length signal.
    """
    counts = np.asarray(token_counts)
    if counts.ndim != 1:
        raise ValueError(f"token_counts must be 1-D, got shape {counts.shape}")
    if counts.size and counts.min() < 1:
        raise ValueError(
            f"token counts must be >= 1, got {counts.min()} at index {counts.argmin()}"
        )
    return np.log(np.minimum(counts, max_length).astype(np.float64)).astype(np.float32)[:, None]


def proxy_inputs(
    embeddings: np.ndarray,
    token_counts: np.ndarray | None,
    head: HeadConfig,
    max_length: int,
    extra_features: np.ndarray | None = None,
) -> np.ndarray:
    """The head's input rows: embeddings, then the length column and the extra columns if
    the head uses them."""
    columns = [np.asarray(embeddings, dtype=np.float32)]
    if head.length_feature:
        if token_counts is None:
            raise ValueError("this head uses a length feature: token_counts are required")
        if len(token_counts) != len(columns[0]):
            raise ValueError(f"{len(token_counts)} token counts for {len(columns[0])} embeddings")
        columns.append(length_column(token_counts, max_length))
    if head.extra_dim:
        if extra_features is None:
            raise ValueError(
                f"this head reads {head.extra_dim} extra feature columns: extra_features "
                "are required"
            )
        extra = np.asarray(extra_features, dtype=np.float32)
        if extra.shape != (len(columns[0]), head.extra_dim):
            raise ValueError(
                f"extra_features have shape {extra.shape}, expected "
                f"({len(columns[0])}, {head.extra_dim})"
            )
        columns.append(extra)
    return columns[0] if len(columns) == 1 else np.hstack(columns)


class RegressionHead(nn.Module):
    """Maps an embedding [B, input_dim] to one z-normalised score per row [B].

    Inputs are standardised per feature first (buffers saved with the weights): unit
    embeddings have coordinates of about 1/sqrt(dim) around a shared mean direction,
    which left a plain MLP stalled for many epochs.
    """

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("input_mean", torch.zeros(config.n_inputs))
        self.register_buffer("input_scale", torch.ones(config.n_inputs))
        layers: list[nn.Module] = []
        width = config.n_inputs
        for hidden in config.hidden_dims:
            layers += [nn.Linear(width, hidden), nn.GELU(), nn.Dropout(config.dropout)]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)

    def set_input_statistics(self, mean: np.ndarray, scale: np.ndarray) -> None:
        self.input_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.input_scale.copy_(torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers((features - self.input_mean) / self.input_scale).squeeze(-1)


class EnsembleHead(nn.Module):
    """The mean LinFiK-scale prediction of cross-fitted members, in the proxy's z-units.

    Each member was trained on its own labels with its own target scaler (so a label held
    out from a member does not even shape that member's target normalisation); the
    buffers carry every member's scaler and the proxy's output scaler, so ``forward``
    matches ``RegressionHead``: z-units that the proxy's ``TargetScaler`` inverts.
    """

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        member = replace(config, members=1)
        self.members = nn.ModuleList(RegressionHead(member) for _ in range(config.members))
        self.register_buffer("member_mean", torch.zeros(config.members, dtype=torch.float64))
        self.register_buffer("member_std", torch.ones(config.members, dtype=torch.float64))
        self.register_buffer("output_scale", torch.tensor([0.0, 1.0], dtype=torch.float64))

    def set_scalers(self, members: Sequence[TargetScaler], output: TargetScaler) -> None:
        if len(members) != len(self.members):
            raise ValueError(f"{len(members)} member scalers for {len(self.members)} members")
        self.member_mean.copy_(torch.tensor([scaler.mean for scaler in members]))
        self.member_std.copy_(torch.tensor([scaler.std for scaler in members]))
        self.output_scale.copy_(torch.tensor([output.mean, output.std]))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        outputs = torch.stack([member(features) for member in self.members]).double()
        linfik = (outputs * self.member_std[:, None] + self.member_mean[:, None]).mean(dim=0)
        return ((linfik - self.output_scale[0]) / self.output_scale[1]).to(features.dtype)


def build_head(config: HeadConfig) -> RegressionHead | EnsembleHead:
    """An untrained head for ``config``: one MLP, or an ensemble when members > 1."""
    return RegressionHead(config) if config.members == 1 else EnsembleHead(config)


def feature_statistics(
    embeddings: np.ndarray, chunk_size: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale, in float64 chunks (constant memory for memory-mapped input).

    The scale is floored at 1% of the median feature std, so near-constant features are
    not blown up into noise.
    """
    n, dim = embeddings.shape
    if n < 1:
        raise ValueError("cannot compute feature statistics of zero embeddings")
    total, total_sq = np.zeros(dim), np.zeros(dim)
    for start in range(0, n, chunk_size):
        chunk = np.asarray(embeddings[start : start + chunk_size], dtype=np.float64)
        total += chunk.sum(axis=0)
        total_sq += (chunk**2).sum(axis=0)
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - mean**2, 0.0))
    floor = max(0.01 * float(np.median(std)), 1e-12)
    return mean, np.maximum(std, floor)


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


@dataclass(frozen=True)
class TargetScaler:
    """z-normalisation of LinFiK scores, fitted on the training labels only."""

    mean: float
    std: float

    @classmethod
    def fit(cls, targets: np.ndarray) -> TargetScaler:
        targets = np.asarray(targets, dtype=np.float64)
        std = float(targets.std())
        # A constant target set would divide by zero; any scale then gives the same ranking.
        return cls(mean=float(targets.mean()), std=std if std > 0 else 1.0)

    def transform(self, targets: np.ndarray) -> np.ndarray:
        return (np.asarray(targets, dtype=np.float64) - self.mean) / self.std

    def inverse(self, normalised: np.ndarray) -> np.ndarray:
        return np.asarray(normalised, dtype=np.float64) * self.std + self.mean


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


def _fit(
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


def _check_split(features: Any, targets: np.ndarray, name: str) -> np.ndarray:
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
    train_y = _check_split(train_x, train_y, "training set")
    val_y = _check_split(val_x, val_y, "validation set")
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

        report = _fit(
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
    train_y = _check_split(train_texts, train_y, "training set")
    val_y = _check_split(val_texts, val_y, "validation set")
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
        report = _fit(
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


class ProxyFileError(ValueError):
    """A proxy file that is missing, malformed, or needs a different encoder."""


@dataclass
class ProxyMetadata:
    """Everything recorded next to the weights; serialised as JSON in the safetensors header."""

    head: HeadConfig
    target_mean: float
    target_std: float
    encoder_identity: str
    base_encoder_identity: str
    finetuned_layers: int | None = None
    encoder_finetuned: bool = False
    max_length: int = DEFAULT_MAX_LENGTH
    # Names the extra columns the head reads (HeadConfig.extra_dim); "" when none.
    extra_features: str = ""
    model_identity: str = ""
    target_hash: str = ""
    seed: int = 0
    label_fraction: float = 0.0
    n_labelled: int = 0
    fidelity: dict[str, float] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ProxyMetadata:
        raw = json.loads(text)
        if raw.get("format_version") != FORMAT_VERSION:
            raise ProxyFileError(f"unsupported proxy format_version {raw.get('format_version')!r}")
        head = raw.pop("head")
        head["hidden_dims"] = tuple(head["hidden_dims"])
        return cls(head=HeadConfig(**head), **raw)


class LinFiKProxy:
    """A trained head (plus fine-tuned encoder weights, if any) that predicts LinFiK scores."""

    def __init__(
        self,
        head: RegressionHead | EnsembleHead,
        metadata: ProxyMetadata,
        encoder: SentenceEncoder | None = None,
    ) -> None:
        if metadata.encoder_finetuned and encoder is None:
            raise ValueError("a proxy with a fine-tuned encoder needs that encoder")
        self.head = head.eval()
        self.metadata = metadata
        # Only set for fine-tuned proxies: stored embeddings cannot serve them.
        self.encoder = encoder

    @property
    def scaler(self) -> TargetScaler:
        return TargetScaler(self.metadata.target_mean, self.metadata.target_std)

    def predict(
        self,
        embeddings: np.ndarray,
        token_counts: np.ndarray | None = None,
        chunk_size: int = 8192,
        *,
        extra_features: np.ndarray | None = None,
    ) -> np.ndarray:
        """LinFiK-scale scores (float64) for embeddings [N, dim], in fixed-size chunks.

        ``token_counts`` (one per row) are required when the head uses the length feature,
        ``extra_features`` [N, extra_dim] when it reads extra columns. Memory stays
        constant in N, so a memory-mapped matrix of any size can be scored.
        """
        head = self.metadata.head
        if embeddings.ndim != 2 or embeddings.shape[1] != head.input_dim:
            raise ValueError(
                f"embeddings have shape {embeddings.shape}, proxy expects [N, {head.input_dim}]"
            )
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        if token_counts is not None and len(token_counts) != len(embeddings):
            raise ValueError(f"{len(token_counts)} token counts for {len(embeddings)} embeddings")
        if extra_features is not None and len(extra_features) != len(embeddings):
            raise ValueError(
                f"{len(extra_features)} extra feature rows for {len(embeddings)} embeddings"
            )
        out = np.empty(embeddings.shape[0], dtype=np.float64)
        with torch.inference_mode(), single_thread():
            for start in range(0, embeddings.shape[0], chunk_size):
                rows = slice(start, start + chunk_size)
                counts = None if token_counts is None else np.asarray(token_counts[rows])
                extra = None if extra_features is None else extra_features[rows]
                chunk = proxy_inputs(
                    embeddings[rows], counts, head, self.metadata.max_length, extra
                )
                if not np.all(np.isfinite(chunk)):
                    bad = start + int(np.flatnonzero(~np.isfinite(chunk).all(axis=1))[0])
                    raise ValueError(f"embedding row {bad} has a non-finite value")
                out[rows] = self.head(torch.from_numpy(chunk)).double().numpy()
        return self.scaler.inverse(out)

    def predict_texts(
        self,
        texts: Sequence[str],
        encoder: SentenceEncoder | None = None,
        batch_size: int = 64,
        *,
        extra_features: np.ndarray | None = None,
    ) -> np.ndarray:
        """Embed ``texts`` with the proxy's own encoder (or a matching frozen one), then score."""
        encoder = self.encoder or encoder
        if encoder is None:
            raise ValueError("predict_texts needs the encoder the proxy was trained on")
        if encoder.identity != self.metadata.encoder_identity:
            raise ValueError(
                f"encoder {encoder.identity} does not match the proxy's "
                f"{self.metadata.encoder_identity}"
            )
        max_length = self.metadata.max_length
        counts = encoder.token_counts(texts) if self.metadata.head.length_feature else None
        embeddings = encoder.encode(texts, batch_size, max_length)
        return self.predict(embeddings, counts, extra_features=extra_features)

    def _tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"head.{k}": v.detach().contiguous() for k, v in self.head.state_dict().items()}
        if self.encoder is not None:
            prefixes = _finetuned_prefixes(self.encoder, self.metadata.finetuned_layers)
            for key, value in self.encoder.model.state_dict().items():
                if key.startswith(prefixes):
                    tensors[f"encoder.{key}"] = value.detach().contiguous()
        return tensors

    def save(self, path: str | Path) -> Path:
        """Write weights and metadata to one .safetensors file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(self._tensors(), str(path), metadata={_METADATA_KEY: self.metadata.to_json()})
        return path

    @classmethod
    def load(cls, path: str | Path, encoder: SentenceEncoder | None = None) -> LinFiKProxy:
        """Load a saved proxy; a fine-tuned one rebuilds its encoder from the base encoder.

        ``encoder`` is the base encoder to start from (default: the packaged MiniLM);
        it must have the identity recorded at training time and is not modified.
        """
        path = Path(path)
        if not path.is_file():
            raise ProxyFileError(f"{path}: file not found")
        try:
            with safe_open(str(path), framework="pt") as handle:
                header = (handle.metadata() or {}).get(_METADATA_KEY)
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        except Exception as exc:  # safetensors raises its own error types
            raise ProxyFileError(f"{path}: not a readable safetensors file ({exc})") from None
        if header is None:
            raise ProxyFileError(f"{path}: no {_METADATA_KEY!r} metadata; not an ALinFiK proxy")
        try:
            metadata = ProxyMetadata.from_json(header)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ProxyFileError(f"{path}: malformed proxy metadata ({exc})") from None
        head = build_head(metadata.head)
        head.load_state_dict(_strip(tensors, "head."))
        tuned = None
        if metadata.encoder_finetuned:
            tuned = _restore_encoder(path, metadata, encoder, _strip(tensors, "encoder."))
        return cls(head, metadata, tuned)


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}


def _finetuned_prefixes(encoder: SentenceEncoder, last_layers: int | None) -> tuple[str, ...]:
    if last_layers is None:
        return ("",)
    first = encoder.n_layers - last_layers
    return tuple(f"encoder.layer.{index}." for index in range(first, encoder.n_layers))


def _restore_encoder(
    path: Path,
    metadata: ProxyMetadata,
    base: SentenceEncoder | None,
    state: dict[str, torch.Tensor],
) -> SentenceEncoder:
    base = base or SentenceEncoder()
    if base.base_identity != metadata.base_encoder_identity:
        raise ProxyFileError(
            f"{path}: proxy was fine-tuned from encoder {metadata.base_encoder_identity}, "
            f"got {base.base_identity}"
        )
    tuned = base.copy()
    unexpected = tuned.model.load_state_dict(state, strict=False).unexpected_keys
    if unexpected:
        raise ProxyFileError(f"{path}: unknown encoder weights, e.g. {unexpected[0]!r}")
    tuned.identity = f"{base.base_identity}+finetuned:sha256:{tuned.weights_digest()}"
    if tuned.identity != metadata.encoder_identity:
        raise ProxyFileError(f"{path}: restored encoder weights do not match the recorded identity")
    return tuned
