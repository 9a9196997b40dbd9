"""How every pipeline task runs its step: claim it, do the work, record the outcome.

Tasks stay thin: they name their stage and the service that does the work; this module
turns a step's outcome into Celery behaviour (retry while earlier stages finish).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from celery import Task

from valuation import conf
from valuation.models import ValuationChunk
from valuation.services import steps

logger = logging.getLogger(__name__)


def _test_sleep(chunk: ValuationChunk) -> None:
    hook = conf.test_step_sleep()
    if hook and hook[0] == chunk.stage and hook[1] == chunk.index and chunk.attempts == 1:
        logger.warning("test hook: %s#%s sleeps %ss", chunk.stage, chunk.index, hook[2])
        time.sleep(hook[2])


def run_step(
    task: Task,
    *,
    job_id: int,
    stage: str,
    index: int,
    work: Callable[..., None],
) -> str:
    """Run one step idempotently; returns its outcome ("done", "failed" or why it skipped)."""
    worker = steps.worker_tag()
    start = steps.step_begin(
        job_id=job_id,
        stage=stage,
        index=index,
        task_id=task.request.id or "",
        worker=worker,
    )
    if start.outcome == steps.WAIT:
        if task.request.retries >= conf.gate_max_retries():
            steps.step_wait_expired(job_id=job_id, stage=stage, index=index)
            return "gave_up_waiting"
        raise task.retry(countdown=conf.gate_retry_seconds(), max_retries=None)
    if not start.run:
        logger.info("job %s %s#%s skipped: %s", job_id, stage, index, start.outcome)
        return start.outcome
    chunk = start.chunk
    assert chunk is not None
    _test_sleep(chunk)
    began = time.perf_counter()
    try:
        with steps.stop_when_job_stops(job_id=job_id):
            work(chunk=chunk)
    except steps.StepStopped as stopped:
        logger.info("job %s %s#%s stopped: %s", job_id, stage, index, stopped)
        steps.step_release(chunk_id=chunk.pk, worker=worker)
        return "stopped"
    except Exception as exc:
        logger.exception("job %s %s#%s failed", job_id, stage, index)
        steps.step_fail(chunk_id=chunk.pk, worker=worker, error=steps.readable_error(exc))
        return "failed"
    steps.step_finish(chunk_id=chunk.pk, worker=worker, seconds=time.perf_counter() - began)
    return "done"
