"""Scores and the ranked results table (full text only with an access grant)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from marketplace.models import Sample
from marketplace.selectors import (
    listings_preview_sample_ids,
    readable_sample_ids,
    user_can_read_sample,
)
from valuation.models import ListingSummary, SampleScore, ValuationJob


def job_scores(*, job: ValuationJob) -> QuerySet[SampleScore]:
    return SampleScore.objects.filter(job=job)


class RankedScores:
    """A job's scores in rank order, for a Paginator. A page is read in two steps: its
    samples' ids from the (job, -score, sample) index alone, then those rows with their
    sample and listing. One query with OFFSET would join every skipped row first, which
    takes seconds deep into a million scores.

    The count comes from the summary a succeeded job stores when it finishes (no score is
    written after that); counting a million rows on every page costs tens of ms."""

    def __init__(self, *, job: ValuationJob, listing_id: int | None) -> None:
        self._job = job
        self._listing_id = listing_id
        self._ranked = SampleScore.objects.filter(job=job).order_by("-score", "sample_id")
        if listing_id is not None:
            self._ranked = self._ranked.filter(version__listing_id=listing_id)

    def count(self) -> int:
        stored = _stored_score_count(job=self._job, listing_id=self._listing_id)
        return self._ranked.count() if stored is None else stored

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, key: slice) -> list[SampleScore]:
        sample_ids = self._page_sample_ids(key.start or 0, key.stop)
        rows = SampleScore.objects.filter(job=self._job, sample_id__in=sample_ids).select_related(
            "sample", "version__listing__current_version"
        )
        by_sample = {row.sample_id: row for row in rows}
        return [by_sample[sample_id] for sample_id in sample_ids]

    def _page_sample_ids(self, start: int, stop: int) -> list[int]:
        """Sample ids of ranks [start, stop). Deep in the whole job's ranking the index scan
        starts after the nearest rank mark the job stored (``job_summary_compute``), so it
        skips fewer than ``step`` rows instead of ``start``."""
        ranked = self._ranked
        marks = (self._job.summary or {}).get("rank_marks") or {}
        keys, step = marks.get("keys") or [], marks.get("step") or 0
        j = min(start // step, len(keys)) if step and self._listing_id is None else 0
        if j:
            score, sample_id = keys[j - 1]
            after = Q(score__lt=score) | Q(score=score, sample_id__gt=sample_id)
            ranked = ranked.filter(after, score__lte=score)  # the bound the index scan uses
            start, stop = start - j * step, stop - j * step
        return list(ranked.values_list("sample_id", flat=True)[start:stop])


def _stored_score_count(*, job: ValuationJob, listing_id: int | None) -> int | None:
    """Scores of a succeeded job, whole or of one listing, as its summary recorded them;
    None where the job has not succeeded or its summary holds no counts."""
    summary = job.summary or {}
    if job.status != ValuationJob.Status.SUCCEEDED or "listings_count" not in summary:
        return None
    if listing_id is None:
        return int(summary["n_scored"])
    rows = ListingSummary.objects.filter(job=job, listing_id=listing_id)
    return rows.aggregate(n=Coalesce(Sum("valued"), 0))["n"]


def job_listing_summaries(*, job: ValuationJob) -> QuerySet[ListingSummary]:
    """Per-listing figures of a finished job, most valuable listings (sum of positive
    values) first."""
    return (
        ListingSummary.objects.filter(job=job)
        .select_related("listing", "version")
        .order_by("-positive_value", "id")
    )


def value_histogram(*, job: ValuationJob, listings: list[ListingSummary]) -> dict[str, Any]:
    """The results page's histogram: one bar series per listing of ``listings`` and, when
    the job spans more listings than those, a first series for all of them; then each series
    is drawn as shares of its own samples (a listing's few hundred would not show beside a
    pool's million). ``chart`` feeds Chart.js; ``series`` and ``bins`` (counts) the table."""
    summary = job.summary or {}
    edges = summary.get("bin_edges", [])
    series = [(row.listing.title, row.histogram) for row in listings]
    shares = summary.get("listings_count", 0) > len(listings)
    if shares:
        series.insert(0, ("All listings", summary.get("histogram", [])))
    return {
        "chart": {
            "labels": [f"{low:.3g}" for low in edges[:-1]],
            "datasets": [
                {"label": label, "data": _percentages(data) if shares else data}
                for label, data in series
            ],
            "y_title": "% of the series' samples" if shares else "samples",
        },
        "series": [label for label, _ in series],
        "shares": shares,
        "bins": [
            {"low": low, "high": high, "counts": [data[i] for _, data in series]}
            for i, (low, high) in enumerate(zip(edges[:-1], edges[1:], strict=False))
        ],
    }


def _percentages(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [round(100 * n / total, 2) if total else 0.0 for n in counts]


def job_ranked_scores(*, job: ValuationJob, listing_id: int | None = None) -> RankedScores:
    return RankedScores(job=job, listing_id=listing_id)


def buyer_can_read_sample(*, buyer: AbstractBaseUser, sample: Sample) -> bool:
    """Whether ``buyer`` holds a live access grant to ``sample`` (bought it) and may read its
    full text."""
    return user_can_read_sample(user=buyer, sample_id=sample.pk)


def buyer_readable_sample_ids(*, buyer: AbstractBaseUser) -> set[int]:
    """Every sample id the buyer may read in full (one query, for a page of rows)."""
    return readable_sample_ids(user=buyer)


def _snippet(text: str, length: int) -> str:
    text = " ".join(text.split())
    return text[: length - 1] + "…" if len(text) > length else text


def ranked_rows(
    *,
    scores: Iterable[SampleScore],
    buyer: AbstractBaseUser,
    start_rank: int = 1,
    snippet_length: int = 120,
) -> list[dict[str, Any]]:
    """Rows of the ranked results table. Text: full after purchase, a snippet where the
    provider allows preview, nothing otherwise."""
    scores = list(scores)
    listings = {score.version.listing.pk: score.version.listing for score in scores}
    previews = listings_preview_sample_ids(listings=listings.values())  # one query for all
    readable = buyer_readable_sample_ids(buyer=buyer)
    rows = []
    for rank, score in enumerate(scores, start=start_rank):
        sample, listing = score.sample, score.version.listing
        if sample.pk in readable:
            text, access = sample.display_text, "full"
        elif sample.pk in previews[listing.pk]:
            text, access = _snippet(sample.display_text, snippet_length), "preview"
        else:
            text, access = "", "hidden"
        rows.append(
            {
                "rank": rank,
                "sample_id": sample.pk,
                "external_id": sample.external_id,
                "score": score.score,
                "is_exact": score.is_exact,
                "tokens": sample.token_count,
                "listing": listing,
                "text": text,
                "access": access,
            }
        )
    return rows
