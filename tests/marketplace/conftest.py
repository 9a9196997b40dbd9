"""Fixtures for marketplace tests: users in every role, listings, and in-memory uploads."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils.text import slugify

from accounts.services import user_create
from marketplace.models import DatasetVersion, Listing
from marketplace.services.listings import listing_create, listing_publish
from marketplace.services.versions import version_upload


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):
    """Uploaded files go to a per-test folder."""
    settings.STORAGE_ROOT = tmp_path / "storage"
    settings.MEDIA_ROOT = tmp_path / "storage"


def make_user(username: str, **roles) -> object:
    return user_create(
        username=username,
        email=f"{username}@example.com",
        password="pass-for-tests-123",
        **roles,
    )


@pytest.fixture
def provider_a(db):
    return make_user("provider_a", is_provider=True, display_name="Provider A")


@pytest.fixture
def provider_b(db):
    return make_user("provider_b", is_provider=True, display_name="Provider B")


@pytest.fixture
def buyer_a(db):
    return make_user("buyer_a", is_buyer=True)


@pytest.fixture
def buyer_b(db):
    return make_user("buyer_b", is_buyer=True)


@pytest.fixture
def staff(db):
    return make_user("staff", is_staff=True)


def jsonl(rows: Iterable[dict]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def write_jsonl_files(folder: Path, files: dict[str, list[dict]]) -> dict[str, str]:
    """Write each ``name -> rows`` as JSON lines under ``folder``; returns name -> sha256,
    as a demo manifest records it."""
    hashes = {}
    for name, rows in files.items():
        content = jsonl(rows)
        (folder / name).write_bytes(content)
        hashes[name] = hashlib.sha256(content).hexdigest()
    return hashes


def run_seed_demo(*args: str) -> str:
    """``manage.py seed_demo`` with ``args``; its stdout and stderr together."""
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


LOREM_TEXT = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu"
)
LOREM = LOREM_TEXT.split(" ")


def sentence(seed: int, words: int = 40) -> str:
    """A deterministic, distinct pseudo-sentence (different seeds share few 3-shingles)."""
    import random

    rng = random.Random(seed)
    return " ".join(rng.choice(LOREM) + str(rng.randint(0, 99)) for _ in range(words))


@pytest.fixture
def make_listing() -> Callable[..., Listing]:
    def make(provider, title: str = "Some dataset", **fields) -> Listing:
        defaults = {"licence": "CC-BY-4.0", "floor_price_per_1k_tokens": 50}
        defaults.update(fields)
        # Tests address listings by their title's slug; the service itself always adds a
        # random suffix (a slug must not tell whether another listing uses it).
        base = slugify(title)
        if "slug" not in defaults and base and not Listing.objects.filter(slug=base).exists():
            defaults["slug"] = base
        return listing_create(provider=provider, title=title, **defaults)

    return make


@pytest.fixture
def ready_listing(make_listing) -> Callable[..., Listing]:
    """A listing with one ingested version; ``publish=True`` puts it on the market."""

    def make(provider, rows: list[dict], *, title: str = "Ready", publish: bool = True, **fields):
        listing = make_listing(provider, title=title, **fields)
        version = version_upload(
            listing=listing, actor=provider, file=io.BytesIO(jsonl(rows)), filename="data.jsonl"
        )
        assert version.status == DatasetVersion.Status.READY, (
            version.error,
            version.validation_report,
        )
        if publish:
            listing_publish(listing=listing, actor=provider)
        listing.refresh_from_db()
        return listing

    return make
