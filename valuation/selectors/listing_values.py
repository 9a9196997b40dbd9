"""Valuation results for other pages: listing values and provider summaries."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Avg, Count, FloatField, OuterRef, Q, Subquery

from marketplace.models import Listing, TargetTask
from valuation.models import SampleScore, ValuationJob


def latest_succeeded_job(
    *, buyer: AbstractBaseUser, task: TargetTask | None = None
) -> ValuationJob | None:
    jobs = ValuationJob.objects.filter(buyer=buyer, status=ValuationJob.Status.SUCCEEDED)
    if task is not None:
        jobs = jobs.filter(task=task)
    return jobs.order_by("-finished_at", "-id").first()


def listing_value_expression(*, job: ValuationJob) -> Subquery:
    """Mean sample value of a listing's current version in ``job``: the ``value_expression``
    that ``marketplace.selectors.listing_search(sort="value")`` orders by (NULL if not valued).
    """
    return Subquery(
        SampleScore.objects.filter(job=job, version_id=OuterRef("current_version_id"))
        .values("version_id")
        .annotate(mean=Avg("score"))
        .values("mean")[:1],
        output_field=FloatField(),
    )


def listing_value_in_job(*, job: ValuationJob, listing: Listing) -> float | None:
    """Mean sample value of the listing's current version in ``job`` (None if not valued):
    the figure ``listing_value_expression`` gives the browse page, for one listing."""
    if listing.current_version_id is None:
        return None
    return SampleScore.objects.filter(job=job, version_id=listing.current_version_id).aggregate(
        mean=Avg("score")
    )["mean"]


@dataclass(frozen=True)
class ListingValuationSummary:
    """How buyers' finished valuations scored one provider listing, in aggregate only.

    Never exposes a buyer, a task or target data: counts and means over scores.
    """

    listing_id: int
    title: str
    jobs: int
    scored: int
    positive: int
    mean_score: float

    @property
    def positive_share(self) -> float:
        return self.positive / self.scored if self.scored else 0.0


def provider_valuation_summaries(
    *, provider: AbstractBaseUser, listing: Listing | None = None
) -> list[ListingValuationSummary]:
    """Per listing of ``provider`` (or only ``listing``): succeeded jobs that valued it and
    their score statistics."""
    scores = SampleScore.objects.filter(
        version__listing__provider=provider, job__status=ValuationJob.Status.SUCCEEDED
    )
    if listing is not None:
        scores = scores.filter(version__listing=listing)
    rows = (
        scores.values("version__listing_id", "version__listing__title")
        .annotate(
            jobs=Count("job", distinct=True),
            scored=Count("id"),
            positive=Count("id", filter=Q(score__gt=0)),
            mean_score=Avg("score"),
        )
        .order_by("version__listing__title", "version__listing_id")
    )
    return [
        ListingValuationSummary(
            listing_id=row["version__listing_id"],
            title=row["version__listing__title"],
            jobs=row["jobs"],
            scored=row["scored"],
            positive=row["positive"],
            mean_score=row["mean_score"],
        )
        for row in rows
    ]
