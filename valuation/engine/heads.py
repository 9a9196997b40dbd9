"""The proxy's small regression heads and the inputs they read.

A head maps one row (sentence embedding, optional length column, optional extra
per-sample columns) to a z-normalised LinFiK score; ``TargetScaler`` maps that back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

__all__ = [
    "EnsembleHead",
    "HeadConfig",
    "RegressionHead",
    "TargetScaler",
    "build_head",
    "feature_statistics",
    "length_column",
    "proxy_inputs",
]


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
