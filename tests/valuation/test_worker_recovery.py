"""A real worker process is SIGKILLed in the middle of a chunk; after a restart the job
completes with exactly the scores of an uninterrupted run.

Runs on the embedded filesystem broker (always) and on Redis (+ PostgreSQL in CI). The
model is a 1-layer GPT-2 saved to a temporary directory; ``VALUATION_TEST_STEP_SLEEP`` makes
one exact-label chunk sleep on its first attempt so that the kill lands inside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import filesystem_transport_options, publish_to
from valuation.models import ExactLabel, SampleScore, ValuationChunk, ValuationJob
from valuation.services import valuation_job_request

pytestmark = [pytest.mark.slow]

SLEEPY_CHUNK = ("exact", 1)


@contextmanager
def sending_to(broker_url: str, transport_options: dict) -> Iterator[None]:
    """Point this (test) process's Celery producer at the broker the test worker reads."""
    from config.celery import app

    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    app.conf.broker_url = broker_url
    app.conf.broker_transport_options = transport_options
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.broker_transport_options = saved
        app._pool = None
        app.amqp._producer_pool = None


def wait_for(predicate: Callable, worker, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n{worker.log()}")


def wait_finished(job: ValuationJob, worker, timeout: float = 150.0) -> ValuationJob:
    def finished():
        job.refresh_from_db()
        return job if job.is_finished else None

    return wait_for(finished, worker, timeout=timeout, what=f"job {job.pk} to finish")


def request_job(task, pool, buyer) -> ValuationJob:
    return valuation_job_request(
        task=task,
        versions=pool,
        model_spec="local",
        method="alinfik",
        label_fraction=0.25,
        seed=3,
        requested_by=buyer,
    )


def scores_of(job: ValuationJob) -> dict[int, tuple[float, bool]]:
    return {
        sample_id: (score, is_exact)
        for sample_id, score, is_exact in SampleScore.objects.filter(job=job).values_list(
            "sample_id", "score", "is_exact"
        )
    }


def run_kill_and_resume(
    *, start_worker, broker_url, transport_options, worker_env, task, pool, buyer
):
    stage, index = SLEEPY_CHUNK
    sleepy_env = {**worker_env, "VALUATION_TEST_STEP_SLEEP": f"{stage}:{index}:120"}
    first = start_worker(broker_url=broker_url, extra_env=sleepy_env)
    with sending_to(broker_url, transport_options):
        job = request_job(task, pool, buyer)
        chunk = wait_for(
            lambda: ValuationChunk.objects.filter(
                job=job, stage=stage, index=index, status=ValuationChunk.Status.RUNNING
            ).first(),
            first,
            timeout=120,
            what=f"{stage}#{index} to start",
        )
        first.kill()  # SIGKILL, mid-chunk: the chunk's row says running, its worker is gone
        assert not ValuationChunk.objects.filter(
            job=job, stage="proxy", status=ValuationChunk.Status.DONE
        ).exists()
        second = start_worker(broker_url=broker_url, extra_env=worker_env)
        job = wait_finished(job, second)
        assert job.status == ValuationJob.Status.SUCCEEDED, f"{job.error}\n{second.log()}"
        chunk.refresh_from_db()
        assert chunk.status == ValuationChunk.Status.DONE
        assert chunk.attempts == 2
        assert job.retry_count == 1
        assert SampleScore.objects.filter(job=job).count() == job.pool_size == 68
        interrupted = scores_of(job)

        # The reference: the same request, uninterrupted, computing every label again.
        ExactLabel.objects.all().delete()
        reference = wait_finished(request_job(task, pool, buyer), second)
    assert reference.status == ValuationJob.Status.SUCCEEDED, reference.error
    assert reference.n_labels_cached == 0
    assert reference.retry_count == 0
    assert interrupted == scores_of(reference)
    assert job.fidelity == reference.fidelity
    # Each worker process loaded the model once, however many chunks it ran.
    assert second.log_path.read_text(errors="replace").count("loading model") == 1
    return job


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_chunk_on_embedded_broker_resumes_exactly(
    start_worker, valuation_settings, pool, target_task, buyer, tmp_path
):
    folder = tmp_path / "broker"
    options = filesystem_transport_options(folder)
    run_kill_and_resume(
        start_worker=start_worker,
        broker_url="filesystem://",
        transport_options=options,
        worker_env={**valuation_settings, "CELERY_BROKER_FOLDER": str(folder)},
        task=target_task,
        pool=pool,
        buyer=buyer,
    )


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_chunk_on_redis_is_redelivered_and_resumes_exactly(
    require_redis, start_worker, valuation_settings, pool, target_task, buyer
):
    # Redis redelivers the killed task's unacknowledged message once its visibility timeout
    # passes; keep it short here (it must stay above the longest chunk: < 1 s in this test).
    env = {
        **valuation_settings,
        "CELERY_VISIBILITY_TIMEOUT": "6",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    }
    run_kill_and_resume(
        start_worker=start_worker,
        broker_url=require_redis,
        transport_options={"visibility_timeout": 6},
        worker_env=env,
        task=target_task,
        pool=pool,
        buyer=buyer,
    )


@pytest.mark.django_db(transaction=True)
def test_a_queued_job_whose_start_message_was_lost_runs_when_a_worker_starts(
    start_worker, valuation_settings, pool, target_task, buyer, tmp_path
):
    # The request's message goes to a folder no worker reads: as lost as a message that
    # died in a killed worker's prefetch buffer.
    from config.celery import app

    lost = tmp_path / "lost"
    # publish_to, not sending_to: Celery reads CELERY_BROKER_URL (Redis in CI) from the
    # environment first, and only publish_to sets it (start_worker's teardown restores it).
    options = filesystem_transport_options(lost)
    publish_to(app, broker_url="filesystem://", transport_options=options)
    job = request_job(target_task, pool, buyer)
    assert any((lost / "out").iterdir())  # the start message was sent, to nowhere
    job.refresh_from_db()
    assert job.status == ValuationJob.Status.QUEUED

    folder = tmp_path / "broker"
    worker = start_worker(
        broker_url="filesystem://",
        extra_env={**valuation_settings, "CELERY_BROKER_FOLDER": str(folder)},
    )
    job = wait_finished(job, worker)
    assert job.status == ValuationJob.Status.SUCCEEDED, f"{job.error}\n{worker.log()}"
    assert job.retry_count == 0
    assert SampleScore.objects.filter(job=job).count() == job.pool_size == 68
    assert f"re-sent the start of queued valuation job {job.pk}" in worker.log_path.read_text()
