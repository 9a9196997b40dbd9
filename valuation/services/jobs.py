"""Explicit actions on valuation jobs: request (or request once), cancel, retry.

Each validates who may act and on what first, and raises a readable error without writing
anything when the action is denied.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.selectors import user_has_role
from core.validators import BUDGET_MAX
from marketplace.models import DatasetVersion, Listing, TargetTask
from valuation import conf
from valuation.engine.crossfit import MIN_LABELS
from valuation.errors import ValuationNotAllowed, ValuationRequestInvalid, ValuationStateError
from valuation.lock_objects import chunk_qs_select_for_update, job_qs_select_for_update
from valuation.models import ValuationChunk, ValuationJob
from valuation.selectors import pool_counts_by_version, poolable_versions
from valuation.services.pipeline import labels_for_pool

logger = logging.getLogger(__name__)

MAX_SEED = 2**31 - 1


def _send_job_run(job_id: int, task_id: str) -> None:
    from valuation.tasks.orchestration import job_run

    job_run.apply_async(args=(job_id,), task_id=task_id)


def _revoke(task_ids: list[str]) -> None:
    from config.celery import app

    if not task_ids or app.conf.task_always_eager:
        return
    try:
        app.control.revoke(task_ids)
    except Exception:  # a broker hiccup must not undo a cancel: the steps no-op anyway
        logger.exception("could not broadcast the revocation of %s tasks", len(task_ids))


def _validated_fraction(method: str, label_fraction: float | str | None) -> float:
    if method == ValuationJob.Method.LINFIK:
        return 1.0
    try:
        fraction = float(label_fraction)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValuationRequestInvalid(
            f"The label fraction must be a number, got {label_fraction!r}."
        ) from None
    if not 0.0 < fraction <= 1.0:
        raise ValuationRequestInvalid(
            f"The label fraction must be greater than 0 and at most 1, got {fraction:g}."
        )
    return fraction


def _validated_versions(
    versions: Iterable[DatasetVersion], *, requested_by: AbstractBaseUser
) -> list[DatasetVersion]:
    chosen = {version.pk: version for version in versions}
    if not chosen:
        raise ValuationRequestInvalid("Choose at least one dataset for the pool.")
    allowed = set(poolable_versions().filter(pk__in=chosen).values_list("pk", flat=True))
    refused = [version for pk, version in sorted(chosen.items()) if pk not in allowed]
    if refused:
        # A title is named only if it was public (any listing but a draft, which was never
        # on the market) or is the requester's own: anyone else's draft is a version id.
        names = ", ".join(
            f"{version.listing.title} v{version.number}"
            if version.listing.status != Listing.Status.DRAFT
            or version.listing.provider_id == requested_by.pk
            else f"version {version.pk}"
            for version in refused
        )
        raise ValuationRequestInvalid(
            f"Only the current ready version of a published listing can be valued; not {names}."
        )
    return [chosen[pk] for pk in sorted(chosen)]


def valuation_job_request(
    *,
    task: TargetTask,
    versions: Iterable[DatasetVersion],
    model_spec: str,
    method: str,
    label_fraction: float | str | None,
    seed: int,
    requested_by: AbstractBaseUser,
    budget: int | None = None,
) -> ValuationJob:
    """Queue the valuation of a pool of dataset versions for one of the buyer's tasks.

    ``budget`` (minor units, optional) is kept on the job for the later subset choice.
    """
    if not user_has_role(requested_by, "buyer"):
        raise ValuationNotAllowed("Only buyers can request a valuation.")
    if task.buyer_id != requested_by.pk:
        raise ValuationNotAllowed("Only the buyer who owns this target task can value data for it.")
    if task.status != TargetTask.Status.READY or not task.target_set_hash:
        raise ValuationRequestInvalid(
            "Upload a target set to this task before requesting a valuation."
        )
    if method not in ValuationJob.Method.values:
        raise ValuationRequestInvalid(
            f"Unknown method {method!r}; use one of {', '.join(ValuationJob.Method.values)}."
        )
    choices = conf.model_choices()
    if model_spec not in choices:
        raise ValuationRequestInvalid(
            f"Unknown model {model_spec!r}; choose one of {', '.join(choices)}."
        )
    fraction = _validated_fraction(method, label_fraction)
    if budget is not None and (type(budget) is not int or not 1 <= budget <= BUDGET_MAX):
        raise ValuationRequestInvalid(
            f"The budget must be a positive amount in minor units, at most {BUDGET_MAX:,}."
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValuationRequestInvalid(f"The seed must be a whole number from 0 to {MAX_SEED}.")
    pool = _validated_versions(versions, requested_by=requested_by)
    counts = pool_counts_by_version(version_ids=[version.pk for version in pool])
    if not sum(counts.values()):
        raise ValuationRequestInvalid(
            "The chosen datasets have no samples left to value (all are duplicates)."
        )
    if method == ValuationJob.Method.ALINFIK:
        n_labels = labels_for_pool(counts=counts, fraction=fraction)
        if n_labels < MIN_LABELS:
            raise ValuationRequestInvalid(
                f"ALinFiK needs at least {MIN_LABELS} exact labels, but a label fraction of "
                f"{fraction:g} on {sum(counts.values())} samples gives {n_labels}; raise the "
                "label fraction or add datasets."
            )

    run_id = uuid.uuid4().hex
    with transaction.atomic():
        job = ValuationJob.objects.create(
            buyer=requested_by,
            task=task,
            target_set_hash=task.target_set_hash,
            model_spec=model_spec,
            method=method,
            label_fraction=fraction,
            seed=seed,
            budget=budget,
            progress_total=1,
        )
        job.versions.set(pool)
        ValuationChunk.objects.create(
            job=job, stage=ValuationChunk.Stage.PLAN, index=0, task_id=run_id
        )
        job_id = job.pk
        transaction.on_commit(lambda: _send_job_run(job_id, run_id))
    return job


def valuation_job_request_once(
    *,
    task: TargetTask,
    versions: Iterable[DatasetVersion],
    model_spec: str,
    method: str,
    label_fraction: float | str | None,
    seed: int,
    requested_by: AbstractBaseUser,
) -> tuple[ValuationJob, bool]:
    """``valuation_job_request`` unless ``requested_by`` already has a job on ``task``.

    Returns (job, created). Any earlier job counts, whatever its status (a failed one is the
    buyer's to retry), so running this twice queues one job. The task row is locked while
    looking (on PostgreSQL), so two concurrent callers cannot both create one. A refused
    request raises and writes nothing.
    """
    with transaction.atomic():
        task = TargetTask.objects.select_for_update().get(pk=task.pk)
        existing = (
            ValuationJob.objects.filter(buyer_id=requested_by.pk, task_id=task.pk)
            .order_by("-created_at", "-id")
            .first()
        )
        if existing is not None:
            return existing, False
        job = valuation_job_request(
            task=task,
            versions=versions,
            model_spec=model_spec,
            method=method,
            label_fraction=label_fraction,
            seed=seed,
            requested_by=requested_by,
        )
    return job, True


def _check_actor(job: ValuationJob, user: AbstractBaseUser) -> None:
    if job.buyer_id != user.pk and not user_has_role(user, "staff"):
        raise ValuationNotAllowed("Only the buyer who requested this valuation can change it.")


def valuation_job_cancel(*, job: ValuationJob, cancelled_by: AbstractBaseUser) -> ValuationJob:
    """Stop a queued or running job: its queued tasks are revoked, and any step that still
    starts or finishes sees the job cancelled and does nothing."""
    _check_actor(job, cancelled_by)
    with transaction.atomic():
        job = job_qs_select_for_update().get(pk=job.pk)
        if not job.is_active:
            raise ValuationStateError(
                f"This valuation is already {job.get_status_display().lower()}; "
                "there is nothing to cancel."
            )
        job.status = ValuationJob.Status.CANCELLED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])
        task_ids = list(
            ValuationChunk.objects.filter(job=job)
            .exclude(status=ValuationChunk.Status.DONE)
            .exclude(task_id="")
            .values_list("task_id", flat=True)
        )
        transaction.on_commit(lambda: _revoke(task_ids))
    return job


def valuation_job_retry(*, job: ValuationJob, retried_by: AbstractBaseUser) -> ValuationJob:
    """Restart a failed or cancelled job from its unfinished steps (done steps are kept)."""
    _check_actor(job, retried_by)
    run_id = uuid.uuid4().hex
    with transaction.atomic():
        job = job_qs_select_for_update().get(pk=job.pk)
        if job.status not in (ValuationJob.Status.FAILED, ValuationJob.Status.CANCELLED):
            raise ValuationStateError(
                f"Only a failed or cancelled valuation can be retried; this one is "
                f"{job.get_status_display().lower()}."
            )
        unfinished = list(
            chunk_qs_select_for_update().filter(job=job).exclude(status=ValuationChunk.Status.DONE)
        )
        for chunk in unfinished:
            chunk.status = ValuationChunk.Status.PENDING
            chunk.error = ""
            chunk.worker = ""
            if chunk.stage == ValuationChunk.Stage.PLAN:
                chunk.task_id = run_id
        ValuationChunk.objects.bulk_update(unfinished, ["status", "error", "worker", "task_id"])
        job.status = ValuationJob.Status.QUEUED
        job.error = ""
        job.finished_at = None
        job.notified_at = None
        job.retry_count = 0
        job.round += 1
        job.save(
            update_fields=[
                "status",
                "error",
                "finished_at",
                "notified_at",
                "retry_count",
                "round",
            ]
        )
        job_id = job.pk
        transaction.on_commit(lambda: _send_job_run(job_id, run_id))
    return job
