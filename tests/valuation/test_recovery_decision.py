"""Which running jobs a restarted worker re-dispatches (embedded broker, no redelivery)."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from valuation.models import ValuationChunk, ValuationJob
from valuation.services import valuation_job_request
from valuation.services.steps import jobs_to_recover_on_this_host

pytestmark = pytest.mark.django_db

Status = ValuationChunk.Status
DEAD_WORKER = f"{socket.gethostname()}:999999999"  # no such pid on this host


@pytest.fixture
def running_job(valuation_settings, pool, target_task, buyer) -> ValuationJob:
    job = valuation_job_request(
        task=target_task,
        versions=pool,
        model_spec="local",
        method="alinfik",
        label_fraction=0.5,
        seed=0,
        requested_by=buyer,
    )
    ValuationJob.objects.filter(pk=job.pk).update(status=ValuationJob.Status.RUNNING)
    return job


def plan_step(job: ValuationJob) -> ValuationChunk:
    return ValuationChunk.objects.get(job=job, stage=ValuationChunk.Stage.PLAN)


def test_a_job_between_two_steps_of_a_live_worker_is_left_alone(running_job) -> None:
    ready_at = timezone.now()
    # The plan step finished just after the worker came up; its canvas is not sent yet.
    ValuationChunk.objects.filter(pk=plan_step(running_job).pk).update(
        status=Status.DONE, started_at=ready_at, finished_at=ready_at + timedelta(seconds=1)
    )
    assert jobs_to_recover_on_this_host(worker_ready_at=ready_at) == []
    # Without the worker's start time (older callers), the same job is restarted.
    assert [r.job_id for r in jobs_to_recover_on_this_host()] == [running_job.pk]


def test_a_job_idle_since_before_the_restart_is_recovered(running_job) -> None:
    ready_at = timezone.now()
    ValuationChunk.objects.filter(pk=plan_step(running_job).pk).update(
        status=Status.DONE,
        started_at=ready_at - timedelta(minutes=2),
        finished_at=ready_at - timedelta(minutes=1),
    )
    recoveries = jobs_to_recover_on_this_host(worker_ready_at=ready_at)
    assert [(r.job_id, r.dead_task_ids) for r in recoveries] == [(running_job.pk, [])]


def test_a_step_dead_mid_run_is_recovered_even_if_others_moved_since(running_job) -> None:
    ready_at = timezone.now()
    step = plan_step(running_job)
    ValuationChunk.objects.filter(pk=step.pk).update(
        status=Status.RUNNING,
        worker=DEAD_WORKER,
        task_id="dead-task",
        started_at=ready_at - timedelta(minutes=1),
    )
    ValuationChunk.objects.create(
        job=running_job,
        stage=ValuationChunk.Stage.EXACT,
        index=7,
        status=Status.DONE,
        started_at=ready_at,
        finished_at=ready_at + timedelta(seconds=1),
    )
    recoveries = jobs_to_recover_on_this_host(worker_ready_at=ready_at)
    assert [(r.job_id, r.dead_task_ids) for r in recoveries] == [(running_job.pk, ["dead-task"])]


def test_a_job_queued_before_the_restart_is_started_again(
    valuation_settings, pool, target_task, buyer
) -> None:
    job = valuation_job_request(
        task=target_task,
        versions=pool,
        model_spec="local",
        method="alinfik",
        label_fraction=0.5,
        seed=0,
        requested_by=buyer,
    )
    assert job.status == ValuationJob.Status.QUEUED
    before, after = job.created_at - timedelta(seconds=1), job.created_at + timedelta(seconds=1)

    recoveries = jobs_to_recover_on_this_host(worker_ready_at=after)
    assert [(r.job_id, r.queued, r.planned) for r in recoveries] == [(job.pk, True, False)]
    # Requested after the worker came up: its message cannot have died with an older worker.
    assert jobs_to_recover_on_this_host(worker_ready_at=before) == []
    assert jobs_to_recover_on_this_host() == []
