"""Reads on valuation jobs, their progress, scores and results.

Pool samples are streamed (``iterator`` / keyset ranges), never loaded whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import (
    Avg,
    Count,
    Exists,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.utils import timezone

from accounts.selectors import user_has_role
from core.formatting import value_text
from marketplace.models import DatasetVersion, Listing, Sample, TargetTask
from valuation.demo import DEMO_BUYER_USERNAME
from valuation.models import SampleModelFeature, SampleScore, ValuationChunk, ValuationJob

# ---- pool ------------------------------------------------------------------------------------


def pool_samples(*, version_ids: list[int] | tuple[int, ...]) -> QuerySet[Sample]:
    """Samples that get a value: every non-duplicate sample of the pool's versions.

    Duplicates are never sold nor paid for (see marketplace.models), so they are counted on
    the results page but not valued.
    """
    return Sample.objects.filter(version_id__in=version_ids, duplicate_of__isnull=True)


def poolable_versions() -> QuerySet[DatasetVersion]:
    """Versions a buyer may put in a pool: the current ready version of a published listing."""
    return DatasetVersion.objects.filter(
        status=DatasetVersion.Status.READY,
        listing__status=Listing.Status.PUBLISHED,
        listing__current_version_id=F("id"),
    ).select_related("listing")


def poolable_listings() -> QuerySet[Listing]:
    return (
        Listing.objects.filter(
            status=Listing.Status.PUBLISHED,
            current_version__status=DatasetVersion.Status.READY,
        )
        .select_related("current_version")
        .order_by("title", "id")
    )


def feature_set_rows_missing(*, feature_set_id: int) -> Exists:
    """A filter for ``Sample`` querysets: the sample has no row in this model-feature set."""
    return ~Exists(
        SampleModelFeature.objects.filter(feature_set_id=feature_set_id, sample_id=OuterRef("pk"))
    )


def version_sample_ids(
    *,
    version_id: int,
    batch_size: int,
    missing_embedding: bool = False,
    missing_layer_features: int | None = None,
) -> Iterator[tuple[int, int]]:
    """(sample id, token count) of a version's pool samples in id order, streamed. With
    ``missing_embedding``, only those without a sentence embedding or, given a model-feature
    set id in ``missing_layer_features``, without a row in that set."""
    queryset = pool_samples(version_ids=[version_id])
    if missing_embedding:
        missing = Q(embedding__isnull=True)
        if missing_layer_features is not None:
            missing |= feature_set_rows_missing(feature_set_id=missing_layer_features)
        queryset = queryset.filter(missing)
    yield from (
        queryset.order_by("id").values_list("id", "token_count").iterator(chunk_size=batch_size)
    )


def sample_id_pages(
    queryset: QuerySet[Sample],
    *,
    page_size: int,
    id_min: int | None = None,
    id_max: int | None = None,
) -> Iterator[list[int]]:
    """Ids of ``queryset`` (within [id_min, id_max] if given) in id order, a page at a time.
    Keyset paging: each page is read after the caller handled the previous one, so a caller
    that commits per page resumes where it stopped when run again."""
    if id_min is not None:
        queryset = queryset.filter(id__gte=id_min)
    if id_max is not None:
        queryset = queryset.filter(id__lte=id_max)
    after = 0
    while True:
        ids = list(
            queryset.filter(id__gt=after).order_by("id").values_list("id", flat=True)[:page_size]
        )
        if not ids:
            return
        yield ids
        after = ids[-1]


def pool_count(*, version_ids: list[int]) -> int:
    return pool_samples(version_ids=version_ids).count()


def pool_counts_by_version(*, version_ids: list[int]) -> dict[int, int]:
    rows = (
        pool_samples(version_ids=version_ids)
        .values("version_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {version_id: 0 for version_id in version_ids}
    counts.update({row["version_id"]: row["n"] for row in rows})
    return counts


# ---- jobs ------------------------------------------------------------------------------------


def job_list_for_buyer(*, buyer: AbstractBaseUser) -> QuerySet[ValuationJob]:
    return (
        ValuationJob.objects.filter(buyer=buyer)
        .select_related("task")
        .order_by("-created_at", "-id")
    )


def job_visible_to(*, job: ValuationJob, user: AbstractBaseUser | AnonymousUser) -> bool:
    """The job's buyer and staff see a job; nobody else learns it exists."""
    if not user.is_authenticated:
        return False
    return job.buyer_id == user.pk or user_has_role(user, "staff")


def job_get_for_user(*, job_id: int, user: AbstractBaseUser | AnonymousUser) -> ValuationJob | None:
    job = ValuationJob.objects.select_related("task", "buyer").filter(pk=job_id).first()
    if job is None or not job_visible_to(job=job, user=user):
        return None
    return job


def task_for_buyer(*, task_id: int, buyer: AbstractBaseUser) -> TargetTask | None:
    return TargetTask.objects.filter(pk=task_id, buyer=buyer).first()


def job_version_ids(*, job: ValuationJob) -> list[int]:
    return list(job.versions.order_by("id").values_list("id", flat=True))


def chunk_stage_counts(*, job: ValuationJob) -> dict[str, dict[str, int]]:
    rows = (
        ValuationChunk.objects.filter(job=job)
        .values("stage")
        .annotate(
            total=Count("id"),
            done=Count("id", filter=Q(status=ValuationChunk.Status.DONE)),
            samples=Sum("size"),
        )
        .order_by()
    )
    by_stage = {row["stage"]: row for row in rows}
    return {
        stage: {
            "done": by_stage[stage]["done"],
            "total": by_stage[stage]["total"],
            "samples": by_stage[stage]["samples"] or 0,
        }
        for stage in ValuationChunk.ORDER
        if stage in by_stage
    }


@dataclass(frozen=True)
class JobProgress:
    status: str
    status_label: str
    stage: str
    stage_label: str
    done: int
    total: int
    percent: int
    elapsed_seconds: float | None
    eta_seconds: float | None
    stages: dict[str, dict[str, int]]
    retry_count: int
    error: str
    finished: bool

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "eta_text": self.eta_text, "elapsed_text": self.elapsed_text}

    @property
    def eta_text(self) -> str:
        if self.finished:
            return ""
        if self.eta_seconds is None:
            return "estimating…"
        return f"about {duration_text(self.eta_seconds)} left"

    @property
    def elapsed_text(self) -> str:
        return duration_text(self.elapsed_seconds) if self.elapsed_seconds is not None else ""


def duration_text(seconds: float) -> str:
    """12 s, 4 min 05 s, 2 h 10 min."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def job_eta_seconds(*, job: ValuationJob) -> float | None:
    """Remaining time: each unfinished step costs the mean duration of the finished steps of
    its stage, or of all finished model steps when its stage has none finished yet. None
    (no estimate) until a model step has finished: the plan step takes a moment and says
    nothing about the model work after it."""
    if job.status != ValuationJob.Status.RUNNING or not job.progress_total:
        return None
    rows = list(ValuationChunk.objects.filter(job=job).values("stage", "status", "seconds"))
    finished = [row for row in rows if row["status"] == ValuationChunk.Status.DONE]
    if not any(row["stage"] != ValuationChunk.Stage.PLAN for row in finished):
        return None
    finished = [row for row in finished if row["stage"] != ValuationChunk.Stage.PLAN]
    overall = sum(row["seconds"] for row in finished) / len(finished)
    per_stage: dict[str, list[float]] = {}
    for row in finished:
        per_stage.setdefault(row["stage"], []).append(row["seconds"])
    remaining = 0.0
    for row in rows:
        if row["status"] == ValuationChunk.Status.DONE:
            continue
        durations = per_stage.get(row["stage"])
        remaining += sum(durations) / len(durations) if durations else overall
    return round(remaining, 1)


def job_progress(*, job: ValuationJob) -> JobProgress:
    stage_labels = dict(ValuationChunk.Stage.choices)
    elapsed = None
    if job.started_at:
        end = job.finished_at or timezone.now()
        elapsed = round((end - job.started_at).total_seconds(), 1)
    return JobProgress(
        status=job.status,
        status_label=job.get_status_display(),
        stage=job.stage,
        stage_label=stage_labels.get(job.stage, job.stage or "Waiting for a worker"),
        done=job.progress_done,
        total=job.progress_total,
        percent=100 if job.status == ValuationJob.Status.SUCCEEDED else job.progress_percent,
        elapsed_seconds=elapsed,
        eta_seconds=job_eta_seconds(job=job),
        stages=chunk_stage_counts(job=job),
        retry_count=job.retry_count,
        error=job.error,
        finished=job.is_finished,
    )


# ---- scores and results ----------------------------------------------------------------------


def job_scores(*, job: ValuationJob) -> QuerySet[SampleScore]:
    return SampleScore.objects.filter(job=job)


def job_ranked_scores(*, job: ValuationJob, listing_id: int | None = None) -> QuerySet[SampleScore]:
    queryset = (
        SampleScore.objects.filter(job=job)
        .select_related("sample", "version__listing__current_version")
        .order_by("-score", "sample_id")
    )
    if listing_id is not None:
        queryset = queryset.filter(version__listing_id=listing_id)
    return queryset


def _payments_selector(name: str):
    """A payments selector by name, or None where the payments app is not installed (the
    valuation pages keep working without it)."""
    try:
        from payments import selectors as payments_selectors
    except ImportError:
        return None
    return getattr(payments_selectors, name, None)


def buyer_can_read_sample(*, buyer: AbstractBaseUser, sample: Sample) -> bool:
    """Whether ``buyer`` bought ``sample`` (a live payments Entitlement) and may read its
    full text. False when the payments app offers no such check."""
    if not buyer.is_authenticated:
        return False
    check = _payments_selector("user_has_sample_entitlement")
    return bool(check(user=buyer, sample_id=sample.pk)) if check else False


def buyer_readable_sample_ids(*, buyer: AbstractBaseUser) -> set[int]:
    """Every sample id the buyer bought (one query, for a page of rows)."""
    if not buyer.is_authenticated:
        return set()
    refs = _payments_selector("entitled_sample_refs")
    if refs is None:
        return set()
    return {int(ref) for ref in refs(user=buyer) if str(ref).isdigit()}


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
    from marketplace.selectors import listings_preview_samples

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


# ---- for other apps --------------------------------------------------------------------------


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


# ---- landing page ----------------------------------------------------------------------------


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
    if not getattr(settings, "LANDING_DEMO_VALUATION", False):
        return False
    return ValuationJob.objects.filter(
        buyer__username=DEMO_BUYER_USERNAME,
        status__in=(ValuationJob.Status.QUEUED, ValuationJob.Status.RUNNING),
    ).exists()


def demo_valuation_showcase() -> ValuationShowcase | None:
    """The demo buyer's latest succeeded valuation (``seed_demo``, computed by the worker of
    ``make run``) for the landing page, or None: none finished yet, or the setting
    ``LANDING_DEMO_VALUATION`` is off (production). Aggregates only, no sample text."""
    if not getattr(settings, "LANDING_DEMO_VALUATION", False):
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
    rows = job.summary.get("listings", [])
    largest = max((abs(row["mean"]) for row in rows if row["mean"] is not None), default=0.0)
    listings = sorted(
        (
            ShowcaseListing(
                title=row["listing_title"],
                valued=int(row["valued"]),
                positive=int(row["positive"]),
                mean=row["mean"],
                bar_percent=(
                    round(100 * abs(row["mean"]) / largest)
                    if largest and row["mean"] is not None
                    else 0
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
