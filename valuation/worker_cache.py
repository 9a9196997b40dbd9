"""Process-level cache of what model work needs: the language model, its exact scorer, the
sentence encoder, target gradients, trained proxies, the scored model's token tables and
model configurations.

A Celery worker process (prefork child) loads each model ONCE and reuses it for every task
it runs; entries are keyed by the model's identity (sha256 of its files), the device and the
dtype, so a changed model file is never served stale. Target gradients and proxies are
per job and large, so only the most recent few are kept. ``stats`` counts real loads, for
tests and logs.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core import artefacts
from valuation import conf
from valuation.engine.embeddings import SentenceEncoder, encoder_identity
from valuation.engine.exact import ExactLinFiK, TargetGradient
from valuation.engine.models import (
    LoadedModel,
    load_config,
    load_model,
    resolve_device,
    resolve_source,
)
from valuation.engine.models import source_identity as _source_identity
from valuation.engine.proxy import LinFiKProxy
from valuation.engine.token_features import token_feature_dim

logger = logging.getLogger(__name__)

_lock = threading.RLock()
_identities: dict[tuple[str, tuple], str] = {}
_configs: dict[str, Any] = {}
_models: dict[tuple[str, str, str], LoadedModel] = {}
_scorers: dict[tuple, ExactLinFiK] = {}
_encoders: dict[tuple[str, str], SentenceEncoder] = {}
_targets: OrderedDict[str, TargetGradient] = OrderedDict()
_proxies: OrderedDict[str, LinFiKProxy] = OrderedDict()
_token_sources: OrderedDict[str, TokenSource] = OrderedDict()
stats: Counter[str] = Counter()

MAX_TARGETS = 1
MAX_PROXIES = 4
MAX_TOKEN_SOURCES = 2
TOKEN_EMBEDDINGS_FILE = "token_embeddings.npy"
TOKENIZER_ARCHIVE = "tokenizer.tar"


@dataclass(frozen=True)
class TokenSource:
    """What the proxy's token features need of the scored model, without the model: its
    tokenizer and its input-embedding matrix [vocab, dim] (float32, memory-mapped)."""

    identity: str
    tokenizer: Any
    embedding_matrix: torch.Tensor

    @property
    def feature_dim(self) -> int:
        return token_feature_dim(self.embedding_matrix)


def worker_device() -> str:
    """This process's device, from VALUATION_DEVICE (auto: cuda when available)."""
    return str(resolve_device(conf.device()))


def _stamp(path: Path) -> tuple:
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)


def model_identity(spec: str) -> str:
    """sha256 identity of a model spec's files, hashed once per (path, sizes, mtimes)."""
    path = resolve_source(conf.model_source(spec))
    key = (str(path.resolve()), _stamp(path))
    with _lock:
        if key not in _identities:
            _identities[key] = _source_identity(path)
        return _identities[key]


def model_config(spec: str) -> Any:
    """A spec's model configuration (layer count, hidden size), read once per identity
    without loading the weights: planning a job needs it, and runs on no model worker."""
    identity = model_identity(spec)
    with _lock:
        if identity not in _configs:
            _configs[identity] = load_config(conf.model_source(spec), identity=identity)
        return _configs[identity]


def get_model(spec: str) -> LoadedModel:
    identity = model_identity(spec)
    device, dtype = worker_device(), conf.model_dtype()
    key = (identity, device, dtype)
    with _lock:
        if key not in _models:
            logger.info("loading model %s (%s) on %s pid=%s", spec, identity, device, os.getpid())
            _models[key] = load_model(conf.model_source(spec), device=device, dtype=dtype)
            stats["model_loads"] += 1
        return _models[key]


def get_scorer(spec: str) -> ExactLinFiK:
    loaded = get_model(spec)
    max_length = conf.max_length()
    batch_size = conf.exact_batch_size()
    key = (loaded.identity, str(loaded.device), str(loaded.dtype), max_length, batch_size)
    with _lock:
        if key not in _scorers:
            _scorers[key] = ExactLinFiK(
                loaded.model, loaded.tokenizer, max_length=max_length, batch_size=batch_size
            )
        return _scorers[key]


def encoder_dir() -> Path | None:
    configured = conf.encoder_dir()
    return Path(configured) if configured else None


def get_encoder() -> SentenceEncoder:
    directory = encoder_dir()
    device = worker_device()
    key = (str(directory or "default"), device)
    with _lock:
        if key not in _encoders:
            logger.info("loading sentence encoder %s on %s pid=%s", key[0], device, os.getpid())
            _encoders[key] = SentenceEncoder(directory, device=device)
            stats["encoder_loads"] += 1
        return _encoders[key]


def current_encoder_identity() -> str:
    """Identity of the configured encoder without loading it."""
    from valuation.engine.embeddings import default_encoder_dir

    return encoder_identity(encoder_dir() or default_encoder_dir())


def _remember(cache: OrderedDict, key: str, value: Any, limit: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


def get_target_gradient(name: str) -> TargetGradient:
    """The target gradient stored as artefact ``name``, on this worker's device; read (and on
    object storage downloaded) once per content hash."""
    from safetensors.torch import load_file

    device = worker_device()
    path, digest = artefacts.artefact_local_path(name=name)
    key = f"{digest}:{device}"
    with _lock:
        if key not in _targets:
            # Straight onto the worker's device, once: every exact chunk reuses this copy.
            tensors = load_file(str(path), device=device)
            n_samples = int(tensors.pop("__n_samples__").item())
            _remember(_targets, key, TargetGradient(tensors, n_samples), MAX_TARGETS)
            stats["target_loads"] += 1
        _targets.move_to_end(key)
        return _targets[key]


def get_proxy(name: str) -> LinFiKProxy:
    """The proxy stored as artefact ``name``, loaded once per content hash."""
    path, key = artefacts.artefact_local_path(name=name)
    with _lock:
        if key not in _proxies:
            _remember(_proxies, key, LinFiKProxy.load(path), MAX_PROXIES)
            stats["proxy_loads"] += 1
        _proxies.move_to_end(key)
        return _proxies[key]


# ---- the scored model's token table, for the proxy's token features ----------------------------
#
# Proxy steps need the model's tokenizer and input-embedding rows, not the model. Loading
# the model in every proxy worker would cost seconds and its full weights (for SmolLM2: a
# GGUF dequantisation, ~0.5 GB) per process just to read one table. So the step that has the
# model loaded anyway (target gradient, exact labels) writes the table (float32 .npy) and
# the tokenizer once per model identity as artefacts valuation/models/<identity>/..., shared
# by every job on that model and every host; proxy steps memory-map the table (only the rows
# of the tokens they see are paged in). Should they be missing (labels all cached before
# this existed, artefacts removed), the proxy step loads the model itself once and writes them.


def token_source_prefix(identity: str) -> str:
    """The artefact folder of a model identity's tokenizer and token table."""
    safe = identity.replace(":", "-").replace("/", "-")
    return f"valuation/models/{safe}"


def token_table_name(identity: str) -> str:
    return f"{token_source_prefix(identity)}/{TOKEN_EMBEDDINGS_FILE}"


def tokenizer_name(identity: str) -> str:
    return f"{token_source_prefix(identity)}/{TOKENIZER_ARCHIVE}"


def token_source_ready(identity: str) -> bool:
    return artefacts.artefact_exists(name=tokenizer_name(identity)) and artefacts.artefact_exists(
        name=token_table_name(identity)
    )


def export_token_source(spec: str) -> str:
    """Store the tokenizer and the input-embedding table of ``spec``'s model once (loading
    the model, or reusing this process's copy); returns the model identity. The table is
    stored last: it marks the set complete."""
    identity = model_identity(spec)
    if token_source_ready(identity):
        return identity
    loaded = get_model(spec)
    with tempfile.TemporaryDirectory(dir=artefacts.scratch_root()) as scratch:
        tokenizer_dir = Path(scratch) / "tokenizer"
        loaded.tokenizer.save_pretrained(str(tokenizer_dir))
        artefacts.artefact_save_dir(name=tokenizer_name(identity), directory=tokenizer_dir)
        weight = loaded.model.get_input_embeddings().weight
        table = weight.detach().to("cpu", torch.float32).numpy()
        table_path = Path(scratch) / TOKEN_EMBEDDINGS_FILE
        with table_path.open("wb") as handle:
            np.save(handle, table)
        artefacts.artefact_save(name=token_table_name(identity), path=table_path)
    stats["token_source_exports"] += 1
    logger.info("stored token table %s of model %s", table.shape, identity)
    return identity


def get_token_source(identity: str) -> TokenSource:
    """The stored tokenizer and memory-mapped embedding table of a model identity."""
    from transformers import AutoTokenizer

    table_path, digest = artefacts.artefact_local_path(name=token_table_name(identity))
    key = f"{identity}:{digest}"
    with _lock:
        if key not in _token_sources:
            tokenizer_dir, _ = artefacts.artefact_local_dir(name=tokenizer_name(identity))
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
            # Copy-on-write map: a writable array for torch, never written, paged in lazily.
            table = torch.from_numpy(np.load(table_path, mmap_mode="c"))
            _remember(
                _token_sources, key, TokenSource(identity, tokenizer, table), MAX_TOKEN_SOURCES
            )
            stats["token_source_loads"] += 1
        _token_sources.move_to_end(key)
        return _token_sources[key]


def save_target_gradient(target: TargetGradient, name: str) -> str:
    """Store g_T as artefact ``name`` (a local file first, then streamed to storage; a
    killed task leaves no artefact, its hash is written last); returns its sha256."""
    from safetensors.torch import save_file

    tensors = {key: tensor.detach().cpu().contiguous() for key, tensor in target.grads.items()}
    tensors["__n_samples__"] = torch.tensor(target.n_samples, dtype=torch.int64)
    with tempfile.TemporaryDirectory(dir=artefacts.scratch_root()) as scratch:
        path = Path(scratch) / "target_gradient.safetensors"
        save_file(tensors, str(path))
        return artefacts.artefact_save(name=name, path=path)


def clear() -> None:
    """Forget everything (tests)."""
    with _lock:
        caches = (
            _identities,
            _configs,
            _models,
            _scorers,
            _encoders,
            _targets,
            _proxies,
            _token_sources,
        )
        for cache in caches:
            cache.clear()
        stats.clear()
