"""The landing page's showcase of the demo valuation."""

from __future__ import annotations

from dataclasses import dataclass

from core.formatting import value_text
from valuation import conf
from valuation.demo import DEMO_BUYER_USERNAME
from valuation.models import ListingSummary, ValuationJob


@dataclass(frozen=True)
class ShowcaseListing:
    """One listing of the showcased valuation: its samples' mean value and how many help."""

    title: str
    valued: int
    positive: int
    mean: float | None
    bar_percent: int  # |mean| relative to the largest |mean| of the job's listings

    @property
    def positive_percent(self) -> int:
        return round(100 * self.positive / self.valued) if self.valued else 0

    @property
    def mean_text(self) -> str:
        """+122, +0.0134, −0.21: ``core.formatting.value_text``, signed."""
        return value_text(self.mean, signed=True)

    @property
    def tone(self) -> str:
        """The bar's colour: success when the mean is positive and most samples help,
        warning when the mean is positive but most do not, danger when the mean is not."""
        if self.mean is None or self.mean <= 0:
            return "danger"
        return "success" if 2 * self.positive >= self.valued else "warning"


@dataclass(frozen=True)
class ValuationShowcase:
    """Figures of a finished valuation, as the landing page's hero card shows them."""

    job_id: int
    task_name: str
    pool_size: int
    target_samples: int
    n_labelled: int
    spearman: float | None
    n_holdout: int
    listings: tuple[ShowcaseListing, ...]


def demo_valuation_pending() -> bool:
    """Whether the demo buyer's valuation is queued or running (the landing page then says
    that its example card will make way for the real figures)."""
    if not conf.landing_demo_valuation():
        return False
    return ValuationJob.objects.filter(
        buyer__username=DEMO_BUYER_USERNAME,
        status__in=(ValuationJob.Status.QUEUED, ValuationJob.Status.RUNNING),
    ).exists()


def demo_valuation_showcase() -> ValuationShowcase | None:
    """The demo buyer's latest succeeded valuation (``seed_demo``, computed by the worker of
    ``make run``) for the landing page, or None: none finished yet, or the setting
    ``LANDING_DEMO_VALUATION`` is off (production). Aggregates only, no sample text."""
    if not conf.landing_demo_valuation():
        return None
    job = (
        ValuationJob.objects.filter(
            buyer__username=DEMO_BUYER_USERNAME, status=ValuationJob.Status.SUCCEEDED
        )
        .select_related("task")
        .order_by("-finished_at", "-id")
        .first()
    )
    if job is None:
        return None
    rows = list(ListingSummary.objects.filter(job=job).select_related("listing"))
    largest = max((abs(row.mean) for row in rows if row.mean is not None), default=0.0)
    listings = sorted(
        (
            ShowcaseListing(
                title=row.listing.title,
                valued=row.valued,
                positive=row.positive,
                mean=row.mean,
                bar_percent=(
                    round(100 * abs(row.mean) / largest) if largest and row.mean is not None else 0
                ),
            )
            for row in rows
        ),
        key=lambda listing: (listing.mean is None, -(listing.mean or 0.0), listing.title),
    )
    fidelity = job.fidelity or {}
    return ValuationShowcase(
        job_id=job.pk,
        task_name=job.task.name,
        pool_size=job.pool_size,
        target_samples=job.task.sample_count,
        n_labelled=job.n_labelled,
        spearman=fidelity.get("spearman"),
        n_holdout=int(fidelity.get("n_holdout") or 0),
        listings=tuple(listings),
    )
