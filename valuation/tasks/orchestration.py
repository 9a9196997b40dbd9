"""Orchestration, routed to the ``default`` queue: plan a job, dispatch its canvas, finalise,
and re-send the tasks of steps whose worker died (embedded broker only)."""

import logging

from celery import shared_task, signature

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
def recover_interrupted(self) -> int:
    """Re-send, with their own id, chain and chord, the tasks of steps whose worker process
    on this host died. The step then counts the interruption when it starts again."""
    chunks = steps.steps_interrupted_on_this_host()
    for chunk in chunks:
        logger.warning("re-sending job %s %s#%s (worker %s died)",
                       chunk.job_id, chunk.stage, chunk.index, chunk.worker)
        signature(chunk.redelivery, app=self.app).apply_async()
    undispatched = steps.jobs_planned_not_dispatched()
    for job_id in undispatched:
        logger.warning("job %s was planned but its canvas was never sent; sending it", job_id)
        job_run.apply_async(args=(job_id,))
    return len(chunks) + len(undispatched)
