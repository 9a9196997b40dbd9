"""The learned LinFiK proxy: a trained head (plus fine-tuned encoder weights, if any) and
its metadata, scoring embeddings or texts and saved as one safetensors file whose metadata
JSON records everything needed to trust and reproduce its scores.

The head lives in ``heads``, its training in ``training`` / ``finetune`` / ``crossfit``, and
``fit.fit_proxy`` turns labelled rows into a fitted proxy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from valuation.engine.embeddings import DEFAULT_MAX_LENGTH, SentenceEncoder
from valuation.engine.heads import (
    EnsembleHead,
    HeadConfig,
    RegressionHead,
    TargetScaler,
    build_head,
    proxy_inputs,
)
from valuation.engine.training import single_thread

__all__ = [
    "FORMAT_VERSION",
    "LinFiKProxy",
    "ProxyFileError",
    "ProxyMetadata",
]

FORMAT_VERSION = 1
_METADATA_KEY = "alinfik"


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
