"""Bulk writes of scores and exact labels, and the per-listing summary of a finished job.

Every write is an upsert (INSERT ... ON CONFLICT DO UPDATE through ``bulk_create`` with
``update_conflicts``) in fixed-size batches: a chunk that runs twice overwrites its rows
and never duplicates them, and memory stays bounded whatever the pool size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from django.db.models import Avg, Count, F, FloatField, Max, Min, Q, Sum, Value
from django.db.models.functions import Floor, Least

from marketplace.models import DatasetVersion, Sample
from valuation import conf
from valuation.models import ExactLabel, SampleScore, ValuationJob


def _batches(rows: Iterable, size: int) -> Iterator[list]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def scores_upsert(*, job_id: int, rows: Iterable[tuple[int, int, float]], is_exact: bool) -> int:
    """Write (sample id, version id, score) rows of a job; returns the number written."""
    size = conf.write_batch_size()
    written = 0
    for batch in _batches(rows, size):
        SampleScore.objects.bulk_create(
            [
                SampleScore(
                    job_id=job_id,
                    sample_id=sample_id,
                    version_id=version_id,
                    score=float(score),
                    is_exact=is_exact,
                )
                for sample_id, version_id, score in batch
            ],
            update_conflicts=True,
            unique_fields=["job", "sample"],
            update_fields=["score", "is_exact", "version"],
            batch_size=size,
        )
        written += len(batch)
    return written


def exact_labels_upsert(*, label_set_id: int, rows: Iterable[tuple[int, float]]) -> int:
    """Cache (sample id, exact score) rows under a label set."""
    size = conf.write_batch_size()
    written = 0
    for batch in _batches(rows, size):
        ExactLabel.objects.bulk_create(
            [
                ExactLabel(label_set_id=label_set_id, sample_id=sample_id, score=float(score))
                for sample_id, score in batch
            ],
            update_conflicts=True,
            unique_fields=["label_set", "sample"],
            update_fields=["score"],
            batch_size=size,
        )
        written += len(batch)
    return written


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def job_summary_compute(*, job: ValuationJob, version_ids: list[int]) -> dict[str, Any]:
    """Per listing: counts of positive / negative / duplicate samples, mean, extremes and a
    histogram on bins shared by every listing (so distributions compare). All in the DB."""
    scores = SampleScore.objects.filter(job=job)
    overall = scores.aggregate(low=Min("score"), high=Max("score"), n=Count("id"))
    n_bins = conf.histogram_bins()
    low, high = overall["low"], overall["high"]
    if low is None:
        low = high = 0.0
    width = (high - low) / n_bins if high > low else 1.0
    edges = [low + width * i for i in range(n_bins + 1)]

    per_version = {
        row["version_id"]: row
        for row in scores.values("version_id")
        .annotate(
            n=Count("id"),
            positive=Count("id", filter=Q(score__gt=0)),
            negative=Count("id", filter=Q(score__lt=0)),
            exact=Count("id", filter=Q(is_exact=True)),
            mean=Avg("score"),
            low=Min("score"),
            high=Max("score"),
            positive_value=Sum("score", filter=Q(score__gt=0)),
        )
        .order_by()
    }
    histograms: dict[int, list[int]] = {version_id: [0] * n_bins for version_id in version_ids}
    binned = (
        scores.annotate(
            bin=Least(
                Floor((F("score") - Value(low)) / Value(width), output_field=FloatField()),
                Value(float(n_bins - 1)),
            )
        )
        .values("version_id", "bin")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in binned:
        histograms.setdefault(row["version_id"], [0] * n_bins)[int(row["bin"])] += row["n"]
    duplicates = {
        row["version_id"]: row["n"]
        for row in Sample.objects.filter(version_id__in=version_ids, duplicate_of__isnull=False)
        .values("version_id")
        .annotate(n=Count("id"))
        .order_by()
    }
    listings = []
    versions = DatasetVersion.objects.filter(id__in=version_ids).select_related("listing")
    for version in sorted(versions, key=lambda v: (v.listing.title, v.pk)):
        row = per_version.get(version.pk, {})
        listings.append(
            {
                "listing_id": version.listing_id,
                "listing_title": version.listing.title,
                "listing_slug": version.listing.slug,
                "version_id": version.pk,
                "version_number": version.number,
                "valued": row.get("n", 0),
                "exact": row.get("exact", 0),
                "positive": row.get("positive", 0),
                "negative": row.get("negative", 0),
                "zero": row.get("n", 0) - row.get("positive", 0) - row.get("negative", 0),
                "duplicates": duplicates.get(version.pk, 0),
                "mean": _finite(row.get("mean")),
                "min": _finite(row.get("low")),
                "max": _finite(row.get("high")),
                "positive_value": _finite(row.get("positive_value") or 0.0),
                "histogram": histograms.get(version.pk, [0] * n_bins),
            }
        )
    return {
        "n_scored": overall["n"],
        "min": _finite(low),
        "max": _finite(high),
        "bin_edges": [_finite(edge) for edge in edges],
        "listings": listings,
    }
