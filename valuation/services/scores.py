"""Bulk writes of scores and exact labels, and the per-listing summary of a finished job.

Every write is an upsert (INSERT ... ON CONFLICT DO UPDATE through ``bulk_create`` with
``update_conflicts``) in fixed-size batches: a chunk that runs twice overwrites its rows
and never duplicates them, and memory stays bounded whatever the pool size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.db.models import (
    Avg,
    Count,
    F,
    FloatField,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import Floor, Least, RowNumber

from marketplace.models import DatasetVersion, Sample
from valuation import conf
from valuation.models import ExactLabel, ListingSummary, SampleScore, ValuationJob


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


@dataclass(frozen=True)
class JobSummary:
    """A finished job's figures: ``overall`` for the job's ``summary`` field, ``listings``
    (unsaved ``ListingSummary`` rows) one per version valued."""

    overall: dict[str, Any]
    listings: list[ListingSummary]


def job_summary_compute(*, job: ValuationJob, version_ids: list[int]) -> JobSummary:
    """Per listing: counts of positive / negative / duplicate samples, mean, extremes and a
    histogram on bins shared by every listing (so distributions compare); the same figures
    for the whole pool. All in the DB."""
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
    versions = DatasetVersion.objects.filter(id__in=version_ids).only("pk", "listing_id")
    for version in sorted(versions, key=lambda v: v.pk):
        row = per_version.get(version.pk, {})
        valued, positive, negative = row.get("n", 0), row.get("positive", 0), row.get("negative", 0)
        listings.append(
            ListingSummary(
                job=job,
                version_id=version.pk,
                listing_id=version.listing_id,
                valued=valued,
                exact=row.get("exact", 0),
                positive=positive,
                negative=negative,
                zero=valued - positive - negative,
                duplicates=duplicates.get(version.pk, 0),
                mean=_finite(row.get("mean")),
                low=_finite(row.get("low")),
                high=_finite(row.get("high")),
                positive_value=_finite(row.get("positive_value") or 0.0) or 0.0,
                histogram=histograms.get(version.pk, [0] * n_bins),
            )
        )
    totals = {
        key: sum(getattr(row, key) for row in listings)
        for key in ("exact", "positive", "negative", "zero", "duplicates")
    }
    return JobSummary(
        overall={
            "n_scored": overall["n"],
            "min": _finite(low),
            "max": _finite(high),
            "bin_edges": [_finite(edge) for edge in edges],
            "histogram": [sum(row.histogram[i] for row in listings) for i in range(n_bins)],
            "listings_count": len(listings),
            **totals,
            "rank_marks": _rank_marks(scores=scores, count=overall["n"]),
        },
        listings=listings,
    )


RANK_MARK_STEP = 10_000
RANK_MARKS_MAX = 1_000


def _rank_marks(*, scores: QuerySet[SampleScore], count: int) -> dict[str, Any]:
    """Every ``step``-th key (score, sample id) of the job's ranking (score descending,
    then sample id): ``keys[j - 1]`` is the key of 0-based rank ``j * step - 1``. A deep
    result page starts its index scan after the nearest mark instead of skipping every row
    before it (``valuation.selectors.RankedScores``). No marks where a marked score is not
    finite (JSON cannot hold it): pages then skip rows from the top."""
    step = max(RANK_MARK_STEP, math.ceil(count / RANK_MARKS_MAX))
    if count < step:
        return {"step": step, "keys": []}
    ranked = scores.annotate(
        rank=Window(RowNumber(), order_by=[F("score").desc(), F("sample_id").asc()])
    )
    keys = (
        ranked.annotate(mark=F("rank") % step)
        .filter(mark=0)
        .order_by("rank")
        .values_list("score", "sample_id")
    )
    keys = [[score, sample_id] for score, sample_id in keys]
    if not all(math.isfinite(score) for score, _ in keys):
        keys = []
    return {"step": step, "keys": keys}


def job_summary_save(*, job: ValuationJob, summary: JobSummary) -> None:
    """Write ``summary``'s per-listing rows, replacing any earlier ones (finishing twice
    leaves one set), and set ``job.summary``; the caller saves the job in its transaction."""
    ListingSummary.objects.filter(job=job).delete()
    ListingSummary.objects.bulk_create(summary.listings, batch_size=conf.write_batch_size())
    job.summary = summary.overall
