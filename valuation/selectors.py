"""Reads on valuation jobs, their progress, scores and results.

Pool samples are streamed (``iterator`` / keyset ranges), never loaded whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from accounts.selectors import user_has_role
from marketplace.models import DatasetVersion, Listing, Sample, TargetTask
from valuation.models import SampleScore, ValuationChunk, ValuationJob

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


def version_sample_ids(
    *, version_id: int, batch_size: int, missing_embedding: bool = False
) -> Iterator[tuple[int, int]]:
    """(sample id, token count) of a version's pool samples in id order, streamed."""
    queryset = pool_samples(version_ids=[version_id])
    if missing_embedding:
        queryset = queryset.filter(embedding__isnull=True)
    yield from queryset.order_by("id").values_list("id", "token_count").iterator(
        chunk_size=batch_size
    )


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
    return ValuationJob.objects.filter(buyer=buyer).select_related("task").order_by(
        "-created_at", "-id"
    )


def job_visible_to(*, job: ValuationJob, user: AbstractBaseUser | AnonymousUser) -> bool:
    """The job's buyer and staff see a job; nobody else learns it exists."""
    if not user.is_authenticated:
        return False
    return job.buyer_id == user.pk or user_has_role(user, "staff")


def job_get_for_user(
    *, job_id: int, user: AbstractBaseUser | AnonymousUser
) -> ValuationJob | None:
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
        return dict(self.__dict__)


def job_eta_seconds(*, job: ValuationJob) -> float | None:
    """Remaining time: each unfinished step costs the mean duration of the finished steps of
    its stage, or of all finished steps when its stage has none finished yet."""
    if job.status != ValuationJob.Status.RUNNING or not job.progress_total:
        return None
    rows = list(ValuationChunk.objects.filter(job=job).values("stage", "status", "seconds"))
    finished = [row for row in rows if row["status"] == ValuationChunk.Status.DONE]
    if not finished:
        return None
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


def job_ranked_scores(
    *, job: ValuationJob, listing_id: int | None = None
) -> QuerySet[SampleScore]:
    queryset = (
        SampleScore.objects.filter(job=job)
        .select_related("sample", "version__listing")
        .order_by("-score", "sample_id")
    )
    if listing_id is not None:
        queryset = queryset.filter(version__listing_id=listing_id)
    return queryset


def buyer_can_read_sample(*, buyer: AbstractBaseUser, sample: Sample) -> bool:
    """Whether ``buyer`` bought ``sample`` (full text). Seam for payments' Entitlement:
    returns False until payments exposes a selector for it."""
    return False


def listing_preview_external_ids(*, listing: Listing) -> set[str]:
    """External ids of the samples the provider lets buyers preview.

    "Samples I pick": the picked ids. "Random samples": the marketplace draws them; until it
    exposes that draw as a selector, no sample of such a listing is previewed here (a
    ranked table must never leak text the provider did not agree to show).
    """
    if listing.preview_mode == Listing.PreviewMode.PICKED:
        return {str(external_id) for external_id in listing.preview_sample_ids or []}
    return set()


def sample_preview_allowed(*, sample: Sample, listing: Listing) -> bool:
    return sample.external_id in listing_preview_external_ids(listing=listing)


def sample_snippet(
    *, sample: Sample, listing: Listing, buyer: AbstractBaseUser, length: int = 120
) -> tuple[str, str]:
    """(text shown, access) for a ranked-table row: "full", "preview" or "hidden"."""
    if buyer_can_read_sample(buyer=buyer, sample=sample):
        return sample.display_text, "full"
    if sample_preview_allowed(sample=sample, listing=listing):
        text = " ".join(sample.display_text.split())
        return (text[: length - 1] + "…" if len(text) > length else text), "preview"
    return "", "hidden"
