"""Scores and the ranked results table (full text only with an access grant)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from marketplace.models import Sample
from marketplace.selectors import (
    listings_preview_samples,
    readable_sample_ids,
    user_can_read_sample,
)
from valuation.models import SampleScore, ValuationJob


def job_scores(*, job: ValuationJob) -> QuerySet[SampleScore]:
    return SampleScore.objects.filter(job=job)


class RankedScores:
    """A job's scores in rank order, for a Paginator. A page is read in two steps: its
    samples' ids from the (job, -score, sample) index alone, then those rows with their
    sample and listing. One query with OFFSET would join every skipped row first, which
    takes seconds deep into a million scores."""

    def __init__(self, *, job: ValuationJob, listing_id: int | None) -> None:
        self._job = job
        self._ranked = SampleScore.objects.filter(job=job).order_by("-score", "sample_id")
        if listing_id is not None:
            self._ranked = self._ranked.filter(version__listing_id=listing_id)

    def count(self) -> int:
        return self._ranked.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, key: slice) -> list[SampleScore]:
        sample_ids = list(self._ranked.values_list("sample_id", flat=True)[key])
        rows = SampleScore.objects.filter(job=self._job, sample_id__in=sample_ids).select_related(
            "sample", "version__listing__current_version"
        )
        by_sample = {row.sample_id: row for row in rows}
        return [by_sample[sample_id] for sample_id in sample_ids]


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
    previews = {
        listing_pk: {sample.pk for sample in samples}
        for listing_pk, samples in listings_preview_samples(listings=listings.values()).items()
    }  # one query for every listing on the page
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
