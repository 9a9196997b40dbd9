"""Marketplace settings, typed. Each is read from ``django.conf.settings`` when called (so
the ``settings`` fixture overrides it in tests); config/settings/base.py reads them from the
environment and documents their defaults.
"""

from __future__ import annotations

from django.conf import settings


def ingest_async_threshold_bytes() -> int:
    """Uploads at least this big are ingested by a worker; smaller ones in the request."""
    return int(settings.INGEST_ASYNC_THRESHOLD_BYTES)


def ingest_batch_size() -> int:
    return int(settings.INGEST_BATCH_SIZE)


def ingest_write_method() -> str:
    method = str(settings.INGEST_WRITE_METHOD)
    if method not in ("auto", "insert"):
        raise ValueError(f"INGEST_WRITE_METHOD must be 'auto' or 'insert', not {method!r}")
    return method


def ingest_report_max_errors() -> int:
    return int(settings.INGEST_REPORT_MAX_ERRORS)


def catalogue_facets_cache_seconds() -> int:
    """How long the catalogue's filter options are reused; 0 reads them on every page."""
    return max(0, int(settings.CATALOGUE_FACETS_CACHE_SECONDS))


def near_duplicate_threshold() -> float:
    return float(settings.NEAR_DUPLICATE_THRESHOLD)


def target_max_samples() -> int:
    return int(settings.TARGET_MAX_SAMPLES)


def target_upload_max_bytes() -> int:
    return int(settings.TARGET_UPLOAD_MAX_BYTES)


def preview_max_size() -> int:
    return int(settings.PREVIEW_MAX_SIZE)


def tokenizer_json() -> str:
    """A tokenizer.json to count tokens with instead of the packaged model's; "" for none."""
    return str(settings.MARKETPLACE_TOKENIZER_JSON or "")


def ingest_uses_copy() -> bool:
    from core.bulk import copy_supported

    return ingest_write_method() == "auto" and copy_supported()


def upload_max_bytes() -> int:
    return int(settings.UPLOAD_MAX_BYTES)


def sample_max_chars() -> int:
    return int(settings.SAMPLE_MAX_CHARS)


def ingest_limits():
    """The parsers' memory bounds (``marketplace.ingest.parsers.Limits``) from the settings."""
    from marketplace.ingest.parsers import Limits

    overrides = {"parquet_max_chunk_bytes": int(settings.INGEST_PARQUET_MAX_CHUNK_BYTES)}
    if settings.INGEST_MAX_LINE_BYTES:
        overrides["max_line_bytes"] = int(settings.INGEST_MAX_LINE_BYTES)
    return Limits.for_max_chars(sample_max_chars(), **overrides)


def supported_currencies() -> tuple[str, ...]:
    currencies = tuple(settings.SUPPORTED_CURRENCIES)
    platform = str(settings.PLATFORM_CURRENCY).lower()
    return currencies if platform in currencies else (platform, *currencies)
