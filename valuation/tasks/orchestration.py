"""Orchestration, routed to the ``default`` queue: plan a job, dispatch its canvas, finalise,
and restart the jobs a dead worker left behind (embedded broker only)."""

import logging
from datetime import datetime

from celery import shared_task, states

from valuation.models import ValuationChunk
from valuation.services import pipeline, steps
from valuation.tasks.base import run_step
from valuation.tasks.canvas import job_dispatch

logger = logging.getLogger(__name__)

Stage = ValuationChunk.Stage
OPTIONS = {"bind": True, "acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="valuation.tasks.orchestration.job_run", **OPTIONS)
def job_run(self, job_id: int) -> str:
    """Plan the job (once), then send its canvas for the steps not done yet."""
    outcome = run_step(self, job_id=job_id, stage=Stage.PLAN, index=0, work=_plan)
    if outcome in ("done", steps.SKIP_DONE):  # SKIP_DONE: a retry, or a redelivery
        job_dispatch(job_id=job_id)
    return outcome


def _plan(*, chunk: ValuationChunk) -> None:
    pipeline.job_plan(job_id=chunk.job_id)


@shared_task(name="valuation.tasks.orchestration.finalise", **OPTIONS)
def finalise(self, job_id: int, index: int = 0) -> str:
    return run_step(
        self, job_id=job_id, stage=Stage.FINALISE, index=index, work=pipeline.job_finalise
    )


@shared_task(name="valuation.tasks.orchestration.recover_interrupted", bind=True)
def recover_interrupted(self, worker_ready_at: str | None = None) -> list[int]:
    """Restart the jobs a dead worker left behind (embedded broker; see
    ``steps.jobs_to_recover_on_this_host``): their unfinished steps are dispatched again
    with fresh ids, and each step that died counts one interruption when it starts again.
    ``worker_ready_at`` (ISO 8601) is when the restarted worker came up."""
    ready_at = datetime.fromisoformat(worker_ready_at) if worker_ready_at else None
    restarted = []
    for recovery in steps.jobs_to_recover_on_this_host(worker_ready_at=ready_at):
        # A chord waiting on a task that died would poll forever: give it a result.
        for task_id in recovery.dead_task_ids:
            try:
                self.app.backend.store_result(task_id, "interrupted", states.SUCCESS)
            except NotImplementedError:  # no result backend: no chord is polling either
                break
        # A queued job, planned or not, restarts through job_run: its plan step marks it
        # running (or plans it) before the canvas is sent.
        if recovery.planned and not recovery.queued:
            job_dispatch(job_id=recovery.job_id, force=True)
        else:
            run_id = steps.job_plan_rerun_id(job_id=recovery.job_id)
            job_run.apply_async(args=(recovery.job_id,), task_id=run_id)
        if recovery.queued:
            logger.info("re-sent the start of queued valuation job %s", recovery.job_id)
        else:
            logger.warning("restarted valuation job %s after a worker died", recovery.job_id)
        restarted.append(recovery.job_id)
    return restarted
