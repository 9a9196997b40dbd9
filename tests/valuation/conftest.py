"""Fixtures for the valuation service: a tiny local GPT-2, a pool of tiny samples, a buyer
with a target task, and settings small enough for a real worker to finish in seconds."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from django.utils import timezone
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from accounts.services import user_create
from marketplace.models import DatasetVersion, Listing, Sample, TargetSample, TargetTask
from valuation import worker_cache

SPECIAL = ["<pad>", "<unk>", "<bos>", "<eos>"]
_VOCABULARY = (
    "the a cat dog bird fish sat ran flew swam on in under over mat tree pond sky is was big "
    "small red blue green happy sad quick slow and or but then it they question answer what "
    "why how yes no good bad data model learns from text"
)
WORDS = _VOCABULARY.split(" ")

# Small enough that a real worker values a pool in seconds; the same values go to the worker
# through its environment (valuation.conf reads settings, then environment variables).
TINY_SETTINGS = {
    "VALUATION_MAX_LENGTH": 32,
    "VALUATION_EXACT_BATCH_SIZE": 8,
    "VALUATION_EXACT_CHUNK_SIZE": 8,
    "VALUATION_EMBED_CHUNK_SIZE": 32,
    "VALUATION_PROXY_CHUNK_SIZE": 20,
    "VALUATION_WRITE_BATCH_SIZE": 7,
    "VALUATION_READ_BATCH_SIZE": 11,
    "VALUATION_PROXY_MAX_EPOCHS": 25,
    "VALUATION_PROXY_PATIENCE": 5,
    "VALUATION_PROXY_HIDDEN_DIMS": (16,),
    "VALUATION_GATE_RETRY_SECONDS": 1,
}


def build_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {token: index for index, token in enumerate(SPECIAL + WORDS)}
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


def save_tiny_gpt2(directory: Path) -> Path:
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(SPECIAL) + len(WORDS),
        n_positions=64,
        n_embd=16,
        n_layer=1,
        n_head=2,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    )
    GPT2LMHeadModel(config).save_pretrained(directory)
    build_tokenizer().save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return save_tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny-gpt2")


@pytest.fixture
def valuation_settings(settings, tiny_model_dir, tmp_path) -> dict[str, str]:
    """Tiny settings here, and the same as environment variables for a worker process."""
    for name, value in TINY_SETTINGS.items():
        setattr(settings, name, value)
    settings.VALUATION_LOCAL_MODEL_DIR = str(tiny_model_dir)
    settings.STORAGE_ROOT = tmp_path / "storage"
    settings.ARTEFACT_CACHE_DIR = tmp_path / "artefact-cache"
    worker_cache.stats.clear()
    env = {
        name: ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        for name, value in TINY_SETTINGS.items()
    }
    env["VALUATION_LOCAL_MODEL_DIR"] = str(tiny_model_dir)
    env["STORAGE_ROOT"] = str(settings.STORAGE_ROOT)
    env["ARTEFACT_CACHE_DIR"] = str(settings.ARTEFACT_CACHE_DIR)
    env["VALUATION_DEVICE"] = "cpu"
    return env


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14)))


@pytest.fixture
def make_user(db) -> Callable:
    def make(username: str, *, roles: tuple[str, ...] = (), staff: bool = False):
        return user_create(
            username=username,
            email=f"{username}@example.com",
            password="pw-123456789",
            is_provider="provider" in roles,
            is_buyer="buyer" in roles,
            is_staff=staff,
        )

    return make


@pytest.fixture
def buyer(make_user):
    return make_user("bea", roles=("buyer",))


@pytest.fixture
def provider(make_user):
    return make_user("paul", roles=("provider",))


@pytest.fixture
def make_version(provider) -> Callable[..., DatasetVersion]:
    """make_version("News", n=40, seed=1, duplicates=2, status="ready", published=True)."""

    def make(
        title: str,
        *,
        n: int = 40,
        seed: int = 1,
        duplicates: int = 0,
        status: str = DatasetVersion.Status.READY,
        published: bool = True,
        pairs_every: int = 5,
        preview_ids: tuple[str, ...] = (),
    ) -> DatasetVersion:
        rng = random.Random(seed)
        slug = f"{title.lower().replace(' ', '-')}-{seed}"
        listing = Listing.objects.create(
            provider=provider,
            title=title,
            slug=slug,
            licence="CC-BY-4.0",
            floor_price_per_1k_tokens=10,
            currency="usd",
            status=Listing.Status.PUBLISHED if published else Listing.Status.DRAFT,
            preview_mode=Listing.PreviewMode.PICKED if preview_ids else Listing.PreviewMode.RANDOM,
            preview_sample_ids=list(preview_ids),
        )
        version = DatasetVersion.objects.create(
            listing=listing,
            number=1,
            original_filename=f"{slug}.jsonl",
            format="jsonl",
            file_sha256="0" * 64,
            status=status,
            sample_count=n,
        )
        samples = []
        for position in range(n):
            if pairs_every and position % pairs_every == pairs_every - 1:
                fields = {"prompt": "question " + _text(rng), "response": "answer " + _text(rng)}
            else:
                fields = {"text": _text(rng)}
            joined = fields.get("text") or f"{fields['prompt']}\n{fields['response']}"
            samples.append(
                Sample(
                    version=version,
                    position=position,
                    source_line=position + 1,
                    external_id=f"s{position}",
                    token_count=len(joined.split()) + 1,
                    norm_hash=hashlib.sha256(f"{slug}:{position}".encode()).hexdigest(),
                    **fields,
                )
            )
        Sample.objects.bulk_create(samples)
        created = list(Sample.objects.filter(version=version).order_by("position"))
        for duplicate in created[1 : 1 + duplicates]:
            duplicate.duplicate_of = created[0]
            duplicate.duplicate_kind = Sample.DuplicateKind.EXACT
        Sample.objects.bulk_update(created[1 : 1 + duplicates], ["duplicate_of", "duplicate_kind"])
        if status == DatasetVersion.Status.READY:
            listing.current_version = version
            listing.published_at = timezone.now() if published else None
            listing.save(update_fields=["current_version", "published_at"])
        return version

    return make


@pytest.fixture
def make_task(buyer) -> Callable[..., TargetTask]:
    def make(*, owner=None, n: int = 4, seed: int = 99, ready: bool = True) -> TargetTask:
        rng = random.Random(seed)
        task = TargetTask.objects.create(
            buyer=owner or buyer,
            name=f"Task {seed}",
            status=TargetTask.Status.READY if ready else TargetTask.Status.DRAFT,
            target_set_hash=hashlib.sha256(f"target-{seed}".encode()).hexdigest() if ready else "",
            sample_count=n if ready else 0,
        )
        if ready:
            TargetSample.objects.bulk_create(
                TargetSample(
                    task=task,
                    position=i,
                    source_line=i + 1,
                    external_id=f"q{i}",
                    text=_text(rng),
                    norm_hash=f"{seed}-{i}",
                )
                for i in range(n)
            )
        return task

    return make


@pytest.fixture
def pool(make_version) -> list[DatasetVersion]:
    """Two listings: 40 samples (2 duplicates) and 30 samples."""
    return [make_version("News", n=40, seed=1, duplicates=2), make_version("Code", n=30, seed=2)]


@pytest.fixture
def target_task(make_task) -> TargetTask:
    return make_task()


@pytest.fixture
def eager_on_commit(django_capture_on_commit_callbacks) -> Iterator[None]:
    """Run on_commit callbacks (the dispatch) at once in a transactional unit test."""
    with django_capture_on_commit_callbacks(execute=True):
        yield
