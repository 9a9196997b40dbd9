"""The life of one pipeline step (a ``ValuationChunk``): begin, finish, fail, recover.

Every Celery task of the pipeline goes through ``step_begin`` before doing any work and
``step_finish`` / ``step_fail`` after; together they make a step idempotent and safe to
deliver twice:

* a step whose job is no longer running (cancelled, failed) does nothing;
* a step already done does nothing (a duplicate delivery);
* a message from an earlier dispatch of the job (before a retry) does nothing;
* a step found ``running`` by a worker process that is still alive does nothing;
* a step found ``running`` by a dead attempt runs again and counts one interruption on
  the job (``retry_count``); past ``VALUATION_MAX_INTERRUPTIONS`` the job fails with a
  readable error instead of looping;
* a step whose earlier stages are not all done yet is told to wait (a chord body that a
  duplicate delivery fired early).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from valuation import conf
from valuation.lock_objects import chunk_qs_select_for_update, job_qs_select_for_update
from valuation.models import ValuationChunk, ValuationJob

logger = logging.getLogger(__name__)

RUN = "run"
SKIP_JOB_INACTIVE = "job_inactive"
SKIP_DONE = "already_done"
SKIP_STALE = "stale_message"
SKIP_RUNNING_ELSEWHERE = "running_elsewhere"
SKIP_GAVE_UP = "gave_up"
WAIT = "wait"


@dataclass(frozen=True)
class StepStart:
    outcome: str
    chunk: ValuationChunk | None = None

    @property
    def run(self) -> bool:
        return self.outcome == RUN


def worker_tag() -> str:
    """host:pid of this process, recorded on the step it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def attempt_is_dead(worker: str) -> bool:
    """Whether the attempt recorded as ``worker`` (host:pid) can no longer be running.

    On this host the process is checked directly. On another host it is presumed dead: the
    broker only redelivers a message after its visibility timeout, which is set above the
    longest step, so by then that attempt is gone.
    """
    host, _, pid_text = worker.rpartition(":")
    if not host or not pid_text.isdigit():
        return True
    if host != socket.gethostname():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # one task at a time per process: the earlier attempt is not running
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def stage_label(stage: str) -> str:
    return dict(ValuationChunk.Stage.choices).get(stage, stage)


def _step_name(chunk: ValuationChunk) -> str:
    total = ValuationChunk.objects.filter(job_id=chunk.job_id, stage=chunk.stage).count()
    label = stage_label(chunk.stage)
    return label if total <= 1 else f"{label}, step {chunk.index + 1} of {total}"


def job_fail_locked(*, job: ValuationJob, error: str) -> None:
    """Fail a locked, active job with a readable error; the buyer is emailed after commit."""
    from valuation.services.notifications import job_notify_finished

    job.status = ValuationJob.Status.FAILED
    job.error = error
    job.finished_at = timezone.now()
    job.notified_at = job.finished_at
    job.save(update_fields=["status", "error", "finished_at", "notified_at"])
    job_id = job.pk
    transaction.on_commit(lambda: job_notify_finished(job_id=job_id))


def step_begin(
    *,
    job_id: int,
    stage: str,
    index: int,
    task_id: str,
    worker: str,
) -> StepStart:
    """Claim a step for this attempt, or say why not (see the module docstring)."""
    with transaction.atomic():
        job = job_qs_select_for_update().filter(pk=job_id).first()
        if job is None:
            return StepStart(SKIP_JOB_INACTIVE)
        chunk = chunk_qs_select_for_update().filter(job=job, stage=stage, index=index).first()
        if chunk is None:
            return StepStart(SKIP_STALE)
        if chunk.status == ValuationChunk.Status.DONE:
            if stage == ValuationChunk.Stage.PLAN and job.status == ValuationJob.Status.QUEUED:
                job.status = ValuationJob.Status.RUNNING  # a retry: planned, about to dispatch
                job.save(update_fields=["status"])
            return StepStart(SKIP_DONE, chunk)
        may_start = job.status == ValuationJob.Status.RUNNING or (
            stage == ValuationChunk.Stage.PLAN and job.status == ValuationJob.Status.QUEUED
        )
        if not may_start:
            return StepStart(SKIP_JOB_INACTIVE, chunk)
        if chunk.task_id and task_id and chunk.task_id != task_id:
            return StepStart(SKIP_STALE, chunk)
        earlier = ValuationChunk.ORDER[: ValuationChunk.ORDER.index(stage)]
        unfinished_earlier = (
            ValuationChunk.objects.filter(job=job, stage__in=earlier)
            .exclude(status=ValuationChunk.Status.DONE)
            .exists()
        )
        if unfinished_earlier:
            return StepStart(WAIT, chunk)
        if chunk.status == ValuationChunk.Status.RUNNING:
            if not attempt_is_dead(chunk.worker):
                return StepStart(SKIP_RUNNING_ELSEWHERE, chunk)
            job.retry_count += 1
            job.save(update_fields=["retry_count"])
            limit = conf.max_interruptions()
            logger.warning(
                "job %s: %s#%s was interrupted (worker %s died); interruption %s of %s",
                job.pk,
                stage,
                index,
                chunk.worker,
                job.retry_count,
                limit,
            )
            if job.retry_count > limit:
                name = _step_name(chunk)
                chunk.status = ValuationChunk.Status.FAILED
                chunk.error = f"Interrupted {chunk.attempts} times: its worker died each time."
                chunk.save(update_fields=["status", "error"])
                job_fail_locked(
                    job=job,
                    error=(
                        f"{name} was interrupted because its worker process died, and the job "
                        f"had already been interrupted {limit} times; it was stopped instead "
                        "of trying again. This usually means a worker runs out of memory: "
                        "check the workers, then retry the job."
                    ),
                )
                return StepStart(SKIP_GAVE_UP, chunk)
        now = timezone.now()
        chunk.status = ValuationChunk.Status.RUNNING
        chunk.attempts += 1
        chunk.worker = worker
        chunk.task_id = task_id or chunk.task_id
        chunk.started_at = now
        chunk.finished_at = None
        chunk.error = ""
        chunk.save(
            update_fields=[
                "status",
                "attempts",
                "worker",
                "task_id",
                "started_at",
                "finished_at",
                "error",
            ]
        )
        fields = []
        if job.status == ValuationJob.Status.QUEUED:
            job.status = ValuationJob.Status.RUNNING
            fields.append("status")
        if job.started_at is None:
            job.started_at = now
            fields.append("started_at")
        if not job.stage or ValuationChunk.ORDER.index(stage) >= ValuationChunk.ORDER.index(
            job.stage
        ):
            job.stage = stage
            fields.append("stage")
        if fields:
            job.save(update_fields=fields)
        return StepStart(RUN, chunk)


class StepStopped(Exception):
    """The job of the running step is no longer running (cancelled, or failed elsewhere):
    the step stops between two batches, and its work so far is dropped."""


@dataclass
class _StopCheck:
    job_id: int
    every: float
    checked_at: float = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.checked_at < self.every:
            return
        self.checked_at = now
        status = (
            ValuationJob.objects.filter(pk=self.job_id).values_list("status", flat=True).first()
        )
        if status != ValuationJob.Status.RUNNING:
            raise StepStopped(f"job {self.job_id} is {status or 'gone'}")


_stop_check: ContextVar[_StopCheck | None] = ContextVar("valuation_step_stop_check", default=None)


@contextmanager
def stop_when_job_stops(*, job_id: int) -> Iterator[None]:
    """While a step works: ``check_stop()`` raises ``StepStopped`` once the job is no longer
    running (read at most every VALUATION_CANCEL_CHECK_SECONDS)."""
    every = conf.cancel_check_seconds()
    token = _stop_check.set(_StopCheck(job_id=job_id, every=every))
    try:
        yield
    finally:
        _stop_check.reset(token)


def check_stop() -> None:
    """Called between batches of model work: stop if this step's job stopped (a no-op
    outside a step, e.g. embeddings at ingest)."""
    check = _stop_check.get()
    if check is not None:
        check()


def step_release(*, chunk_id: int, worker: str) -> bool:
    """A step stopped because its job stopped: back to pending (a retry runs it again).
    False when another attempt holds it."""
    with transaction.atomic():
        chunk = chunk_qs_select_for_update().get(pk=chunk_id)
        if chunk.status != ValuationChunk.Status.RUNNING or chunk.worker != worker:
            return False
        chunk.status = ValuationChunk.Status.PENDING
        chunk.worker = ""
        chunk.finished_at = timezone.now()
        chunk.save(update_fields=["status", "worker", "finished_at"])
        return True


def _refresh_progress(job: ValuationJob) -> None:
    job.progress_done = ValuationChunk.objects.filter(
        job=job, status=ValuationChunk.Status.DONE
    ).count()
    job.progress_total = ValuationChunk.objects.filter(job=job).count()
    job.save(update_fields=["progress_done", "progress_total"])


def step_finish(*, chunk_id: int, worker: str, seconds: float) -> bool:
    """Mark this attempt's step done; False when another attempt took the step over."""
    with transaction.atomic():
        chunk = ValuationChunk.objects.only("job_id").get(pk=chunk_id)
        job = job_qs_select_for_update().get(pk=chunk.job_id)
        chunk = chunk_qs_select_for_update().get(pk=chunk_id)
        if chunk.status != ValuationChunk.Status.RUNNING or chunk.worker != worker:
            return False
        chunk.status = ValuationChunk.Status.DONE
        chunk.finished_at = timezone.now()
        chunk.seconds = seconds
        chunk.save(update_fields=["status", "finished_at", "seconds"])
        _refresh_progress(job)
        return True


def step_fail(*, chunk_id: int, worker: str, error: str) -> None:
    """Record a step's failure; the job fails with a readable error naming the step."""
    with transaction.atomic():
        chunk = ValuationChunk.objects.only("job_id").get(pk=chunk_id)
        job = job_qs_select_for_update().get(pk=chunk.job_id)
        chunk = chunk_qs_select_for_update().get(pk=chunk_id)
        if chunk.status == ValuationChunk.Status.DONE or (
            chunk.status == ValuationChunk.Status.RUNNING and chunk.worker != worker
        ):
            return
        chunk.status = ValuationChunk.Status.FAILED
        chunk.error = error
        chunk.finished_at = timezone.now()
        chunk.save(update_fields=["status", "error", "finished_at"])
        if job.is_active:
            job_fail_locked(job=job, error=f"{_step_name(chunk)} failed: {error}")


def step_wait_expired(*, job_id: int, stage: str, index: int) -> None:
    """A step waited too long for earlier stages: fail the job rather than wait forever."""
    with transaction.atomic():
        job = job_qs_select_for_update().get(pk=job_id)
        if job.is_active:
            job_fail_locked(
                job=job,
                error=(
                    f"{stage_label(stage)} waited too long for the earlier steps to finish; "
                    "the workers may be overloaded. Retry the job."
                ),
            )


@dataclass(frozen=True)
class Recovery:
    """A job to restart after its worker died: ``dead_task_ids`` are the ids of the tasks
    that died with it (they will never report a result); ``queued``: its start message was
    lost before any step began, so it starts again from its plan step."""

    job_id: int
    planned: bool
    dead_task_ids: list[str]
    queued: bool = False


def jobs_to_recover_on_this_host(*, worker_ready_at: datetime | None = None) -> list[Recovery]:
    """Active jobs that nothing is moving forward any more, after a worker restart.

    Used where the broker cannot redeliver (the embedded filesystem transport deletes a
    message once read, and a worker holds its countdown messages in memory): a running job
    is recovered when a step of it was running in a dead process on this host, or when no
    step of it is running at all (what moved it on was lost with the worker). A job with a
    step running in a live process is left alone, and so is a job with no running step
    that a step started or finished after ``worker_ready_at`` (when the restarted worker
    came up): a live process touched it since, e.g. between its plan step finishing and
    its canvas being sent, so nothing was lost.

    With ``worker_ready_at``, a job still queued that was requested before then is
    restarted too: its message may have died in a killed worker's prefetch buffer. If the
    message was in fact still waiting, it turns stale (the plan step gets a new task id)
    and is skipped, so the job still runs once.
    """
    host = socket.gethostname()
    recoveries = []
    if worker_ready_at is not None:
        queued = ValuationJob.objects.filter(
            status=ValuationJob.Status.QUEUED, created_at__lt=worker_ready_at
        ).order_by("id")
        recoveries += [
            Recovery(job_id=job.pk, planned=job.planned, dead_task_ids=[], queued=True)
            for job in queued
        ]
    jobs = ValuationJob.objects.filter(status=ValuationJob.Status.RUNNING).order_by("id")
    for job in jobs:
        running = list(ValuationChunk.objects.filter(job=job, status=ValuationChunk.Status.RUNNING))
        if any(not chunk.worker.startswith(f"{host}:") for chunk in running):
            continue  # another host's worker: the broker there redelivers
        if any(not attempt_is_dead(chunk.worker) for chunk in running):
            continue  # a live step moves the job on
        if not running and _touched_since(job, worker_ready_at):
            continue  # between two steps of a live worker
        recoveries.append(
            Recovery(
                job_id=job.pk,
                planned=job.planned,
                dead_task_ids=[chunk.task_id for chunk in running if chunk.task_id],
            )
        )
    return recoveries


def _touched_since(job: ValuationJob, moment: datetime | None) -> bool:
    if moment is None:
        return False
    return ValuationChunk.objects.filter(
        Q(started_at__gte=moment) | Q(finished_at__gte=moment), job=job
    ).exists()


def job_plan_rerun_id(*, job_id: int) -> str:
    """A fresh task id for the plan step of a job whose planning died (stored on the step)."""
    import uuid

    run_id = uuid.uuid4().hex
    ValuationChunk.objects.filter(job_id=job_id, stage=ValuationChunk.Stage.PLAN).exclude(
        status=ValuationChunk.Status.DONE
    ).update(task_id=run_id)
    return run_id


def readable_error(exc: BaseException) -> str:
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
