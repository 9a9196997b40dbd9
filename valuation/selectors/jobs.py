"""Valuation jobs: who sees which, and their progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from accounts.selectors import user_has_role
from marketplace.models import TargetTask
from valuation.models import ValuationChunk, ValuationJob


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
