"""A large upload is validated and ingested by a real Celery worker process."""

from __future__ import annotations

import io
import time

import pytest

from accounts.services import user_create
from marketplace.models import DatasetVersion, Sample
from marketplace.services.listings import listing_create
from marketplace.services.versions import version_upload
from tests.marketplace.conftest import jsonl, sentence


@pytest.mark.slow
def test_large_upload_is_processed_by_a_worker(start_worker, settings):
    settings.INGEST_ASYNC_THRESHOLD_BYTES = 1_000
    worker = start_worker(
        broker_url="filesystem://",
        queues="default",
        extra_env={"STORAGE_ROOT": str(settings.STORAGE_ROOT)},
    )
    provider = user_create(
        username="p", email="p@example.com", password="x-123-abc", is_provider=True
    )
    listing = listing_create(
        provider=provider, title="Big", licence="MIT", floor_price_per_1k_tokens=1
    )
    rows = [{"text": sentence(i)} for i in range(300)]
    version = version_upload(
        listing=listing, actor=provider, file=io.BytesIO(jsonl(rows)), filename="big.jsonl"
    )
    assert version.status == DatasetVersion.Status.STAGED

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        version.refresh_from_db()
        if version.status in (DatasetVersion.Status.READY, DatasetVersion.Status.FAILED):
            break
        time.sleep(0.3)
    assert version.status == DatasetVersion.Status.READY, (version.error, worker.log())
    assert version.sample_count == 300
    assert Sample.objects.filter(version=version).count() == 300
    assert (version.progress_phase, version.progress_done, version.progress_total) == (
        "done",
        300,
        300,
    )
