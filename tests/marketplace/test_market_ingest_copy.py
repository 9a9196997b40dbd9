"""Ingest on PostgreSQL writes samples and their index keys with COPY; the rows are exactly
those of the bulk-INSERT path, including text with tabs, newlines and backslashes, pairs
(NULL text) and binary signatures. Skips on SQLite; fails under REQUIRE_SERVICES=1."""

from __future__ import annotations

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.bulk import copy_value
from marketplace.models import DatasetVersion, Sample, SampleBand
from marketplace.services.listings import listing_create
from marketplace.services.versions import version_upload
from tests.marketplace.conftest import jsonl

ROWS = [
    {"id": "tab", "text": "a\ttab and a back\\slash and the word NULL \\N here"},
    {"id": "lines", "text": "first line\nsecond line\r\nthird, with ünïcode ✓"},
    {"prompt": "What is COPY?", "response": "A bulk path:\n\tfast."},
    {"text": "plain words for the near-duplicate index " * 3},
] + [{"text": f"sample number {i} of a larger batch of rows"} for i in range(40)]


def ingest(provider, title: str):
    listing = listing_create(
        provider=provider, title=title, licence="MIT", floor_price_per_1k_tokens=1
    )
    with CaptureQueriesContext(connection) as queries:
        version = version_upload(
            listing=listing,
            actor=provider,
            file=io.BytesIO(jsonl(ROWS)),
            filename="rows.jsonl",
            inline=True,
        )
    assert version.status == DatasetVersion.Status.READY, version.error
    inserts = sum('INSERT INTO "marketplace_sample"' in q["sql"] for q in queries.captured_queries)
    return version, inserts


def rows_of(version) -> list[tuple]:
    fields = (
        "position",
        "source_line",
        "external_id",
        "text",
        "prompt",
        "response",
        "token_count",
        "norm_hash",
        "minhash",
        "duplicate_kind",
    )
    return [
        tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
        for row in Sample.objects.filter(version=version).order_by("position").values_list(*fields)
    ]


def keys_of(version) -> list[tuple[int, int]]:
    return sorted(
        SampleBand.objects.filter(sample__version=version).values_list("sample__position", "key")
    )


@pytest.mark.django_db
def test_copy_ingest_writes_exactly_the_rows_of_bulk_insert(require_postgres, provider_a, settings):
    settings.INGEST_BATCH_SIZE = 16  # several batches: ids reserved per batch
    settings.INGEST_WRITE_METHOD = "insert"
    inserted, insert_statements = ingest(provider_a, "Inserted")
    settings.INGEST_WRITE_METHOD = "auto"
    copied, copy_statements = ingest(provider_a, "Copied")
    assert (insert_statements, copy_statements) == (3, 0)  # COPY sends no INSERT
    assert rows_of(copied) == rows_of(inserted)
    assert len(rows_of(copied)) == len(ROWS)
    assert rows_of(copied)[0][3] == ROWS[0]["text"]
    assert rows_of(copied)[2][3:6] == (None, "What is COPY?", "A bulk path:\n\tfast.")
    assert keys_of(copied) == keys_of(inserted)
    assert len(keys_of(copied)) > len(ROWS)
    # Ids came from the sequence: a later ordinary insert does not collide.
    top = Sample.objects.order_by("-pk").values_list("pk", flat=True).first()
    assert set(Sample.objects.filter(version=copied).values_list("pk", flat=True)) <= set(
        range(1, top + 1)
    )
    again, _ = ingest(provider_a, "After")  # would fail on a duplicate primary key
    assert Sample.objects.filter(version=again).count() == len(ROWS)
    # Statistics refreshed before duplicate detection (ANALYZE counts small tables exactly).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN (%s, %s)",
            ["marketplace_sample", "marketplace_sampleband"],
        )
        statistics = dict(cursor.fetchall())
    assert statistics == {
        "marketplace_sample": 3 * len(ROWS),
        "marketplace_sampleband": SampleBand.objects.count(),
    }


def test_copy_text_format_escapes():
    assert copy_value(None) == "\\N"
    assert copy_value("a\tb\nc\\d\re") == "a\\tb\\nc\\\\d\\re"
    assert copy_value(b"\x00\xff") == "\\\\x00ff"
    assert (copy_value(True), copy_value(7)) == ("t", "7")


def test_unknown_write_method_is_refused_by_name(settings):
    from marketplace import conf

    settings.INGEST_WRITE_METHOD = "fast"
    with pytest.raises(ValueError, match="INGEST_WRITE_METHOD must be 'auto' or 'insert'"):
        conf.ingest_uses_copy()
