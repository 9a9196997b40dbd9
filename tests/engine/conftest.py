"""Tiny causal LMs and a local word-level tokenizer, so engine tests need no download."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from valuation.engine.data import Sample
from valuation.engine.models import LoadedModel, wrap_model

SPECIAL_TOKENS = ["<pad>", "<unk>", "<bos>", "<eos>"]
_VOCABULARY_TEXT = (
    "the a cat dog bird fish sat ran flew swam on in under over mat tree pond sky "
    "is was big small red blue green happy sad quick slow and or but then it they "
    "question answer what why how yes no good bad data model learns from text"
)
WORDS = _VOCABULARY_TEXT.split()


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Whitespace word tokenizer that prepends <bos> when special tokens are added."""
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<bos>",
        eos_token="<eos>",
    )


def build_gpt2(seed: int = 0, n_layer: int = 2, n_embd: int = 32) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(SPECIAL_TOKENS) + len(WORDS),
        n_positions=64,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=2,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
        attn_implementation="eager",
    )
    return GPT2LMHeadModel(config)


def build_llama(seed: int = 0, n_layer: int = 2) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(SPECIAL_TOKENS) + len(WORDS),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=n_layer,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=False,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
        attn_implementation="eager",
    )
    return LlamaForCausalLM(config)


def tiny_model(arch: str, dtype: str = "float64", seed: int = 0) -> LoadedModel:
    build = {"gpt2": build_gpt2, "llama": build_llama}[arch]
    return wrap_model(build(seed), build_tokenizer(), name=f"tiny-{arch}", dtype=dtype)


@pytest.fixture
def make_tiny_model() -> Callable[..., LoadedModel]:
    """Factory: ``make_tiny_model("gpt2" | "llama", dtype="float64", seed=0)``."""
    return tiny_model


@pytest.fixture(scope="session")
def tokenizer() -> PreTrainedTokenizerFast:
    return build_tokenizer()


@pytest.fixture
def tiny_gpt2() -> LoadedModel:
    """Tiny GPT-2 (2 layers, width 32) in float64."""
    return tiny_model("gpt2")


@pytest.fixture
def tiny_llama() -> LoadedModel:
    """Tiny Llama (2 layers, width 32, grouped-query attention) in float64."""
    return tiny_model("llama")


@pytest.fixture(params=["gpt2", "llama"])
def tiny_lm(request: pytest.FixtureRequest) -> LoadedModel:
    """Each tiny architecture in turn, float64."""
    return tiny_model(request.param)


@pytest.fixture
def tiny_model_dir(tmp_path: Path) -> Path:
    """A saved tiny GPT-2 directory (float32) with its tokenizer, loadable by path."""
    directory = tmp_path / "tiny-gpt2"
    build_gpt2().save_pretrained(directory)
    build_tokenizer().save_pretrained(directory)
    return directory


TRAIN_SAMPLES = [
    Sample("t0", text="the cat sat on the mat"),
    Sample("t1", text="a dog ran under the big tree and the bird flew over the sky"),
    Sample("t2", prompt="question what is red", response="answer the fish is red"),
    Sample("t3", text="the quick blue bird"),
    Sample("t4", prompt="why is the sky blue", response="it is big and happy"),
    Sample("t5", text="model learns from data and text then it is good"),
]
TARGET_SAMPLES = [
    Sample("q0", prompt="question what sat on the mat", response="answer the cat sat"),
    Sample("q1", text="the bird flew over the pond"),
    Sample("q2", text="a small red fish swam in the pond"),
]


@pytest.fixture
def train_samples() -> list[Sample]:
    return list(TRAIN_SAMPLES)


@pytest.fixture
def target_samples() -> list[Sample]:
    return list(TARGET_SAMPLES)
