"""Marketplace settings, each overridable in Django settings under the same name."""

from __future__ import annotations

from django.conf import settings

DEFAULTS: dict[str, object] = {
    # Uploads at least this big are validated and ingested by a Celery worker;
    # smaller ones are processed inside the request.
    "INGEST_ASYNC_THRESHOLD_BYTES": 2 * 1024 * 1024,
    # Rows inserted per bulk insert (and per transaction) while ingesting.
    "INGEST_BATCH_SIZE": 1000,
    # How ingest writes samples: "auto" uses COPY on PostgreSQL and bulk INSERTs elsewhere;
    # "insert" forces bulk INSERTs (the benchmark compares both).
    "INGEST_WRITE_METHOD": "auto",
    # How many row errors a validation report lists (totals always count every error).
    "INGEST_REPORT_MAX_ERRORS": 100,
    # Near-duplicate threshold on the Jaccard similarity of word 3-shingle sets.
    "NEAR_DUPLICATE_THRESHOLD": 0.8,
    # Target sets are small: a buyer's examples of the task.
    "TARGET_MAX_SAMPLES": 10_000,
    "TARGET_UPLOAD_MAX_BYTES": 20 * 1024 * 1024,
    "PREVIEW_MAX_SIZE": 20,
    # Upload parsers: the longest line (JSONL, CSV, text) read before it is refused unread;
    # None: 16 bytes per SAMPLE_MAX_CHARS character plus 64 KiB.
    "INGEST_MAX_LINE_BYTES": None,
    # Parquet: the most bytes one column chunk may decompress to (checked on the footer and
    # on every page header before decoding) and the most one batch of rows may decode to.
    "INGEST_PARQUET_MAX_CHUNK_BYTES": 128 * 1024 * 1024,
    "SUPPORTED_CURRENCIES": ("usd", "eur", "gbp"),
}


def get(name: str):
    if name not in DEFAULTS:
        raise KeyError(f"unknown marketplace setting {name!r}")
    return getattr(settings, name, DEFAULTS[name])


def ingest_uses_copy() -> bool:
    from core.bulk import copy_supported

    method = str(get("INGEST_WRITE_METHOD"))
    if method not in ("auto", "insert"):
        raise ValueError(f"INGEST_WRITE_METHOD must be 'auto' or 'insert', not {method!r}")
    return method == "auto" and copy_supported()


def upload_max_bytes() -> int:
    return int(settings.UPLOAD_MAX_BYTES)


def sample_max_chars() -> int:
    return int(settings.SAMPLE_MAX_CHARS)


def ingest_limits():
    """The parsers' memory bounds (``marketplace.ingest.parsers.Limits``) from the settings."""
    from marketplace.ingest.parsers import Limits

    overrides = {"parquet_max_chunk_bytes": int(get("INGEST_PARQUET_MAX_CHUNK_BYTES"))}
    if get("INGEST_MAX_LINE_BYTES"):
        overrides["max_line_bytes"] = int(get("INGEST_MAX_LINE_BYTES"))
    return Limits.for_max_chars(sample_max_chars(), **overrides)


def supported_currencies() -> tuple[str, ...]:
    currencies = tuple(get("SUPPORTED_CURRENCIES"))
    platform = str(getattr(settings, "PLATFORM_CURRENCY", "usd")).lower()
    return currencies if platform in currencies else (platform, *currencies)
