"""Final: per-listing summary, timings, status; the buyer is told."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from core import artefacts
from valuation import conf
from valuation.lock_objects import job_qs_select_for_update
from valuation.models import SampleScore, ValuationChunk, ValuationJob
from valuation.selectors import job_version_ids
from valuation.services.pipeline.artefacts import target_gradient_name
from valuation.services.scores import job_summary_compute, job_summary_save

Stage = ValuationChunk.Stage


def job_stage_timings(*, job_id: int) -> dict[str, dict[str, float]]:
    """Per stage: steps, summed step seconds (work) and first start to last finish (wall)."""
    timings: dict[str, dict[str, float]] = {}
    for stage in ValuationChunk.ORDER:
        rows = ValuationChunk.objects.filter(job_id=job_id, stage=stage)
        agg = rows.aggregate(first=Min("started_at"), last=Max("finished_at"))
        seconds = [s for s in rows.values_list("seconds", flat=True)]
        if not seconds:
            continue
        wall = (agg["last"] - agg["first"]).total_seconds() if agg["first"] and agg["last"] else 0.0
        timings[stage] = {
            "steps": len(seconds),
            "work_seconds": round(sum(seconds), 3),
            "wall_seconds": round(max(wall, 0.0), 3),
        }
    return timings


def job_finalise(*, chunk: ValuationChunk) -> None:
    """Summarise, mark the job succeeded and tell the buyer (email after commit)."""
    from valuation.services.notifications import job_notify_finished

    job = ValuationJob.objects.get(pk=chunk.job_id)
    version_ids = job_version_ids(job=job)
    scored = SampleScore.objects.filter(job=job).count()
    if scored != job.pool_size:
        raise RuntimeError(
            f"{scored} samples have a score but the pool has {job.pool_size}; retry the job"
        )
    summary = job_summary_compute(job=job, version_ids=version_ids)
    timings = job_stage_timings(job_id=job.pk)
    with transaction.atomic():
        job = job_qs_select_for_update().get(pk=job.pk)
        if job.status != ValuationJob.Status.RUNNING:
            return
        now = timezone.now()
        own = round((now - chunk.started_at).total_seconds(), 3) if chunk.started_at else 0.0
        timings[Stage.FINALISE] = {"steps": 1, "work_seconds": own, "wall_seconds": own}
        job_summary_save(job=job, summary=summary)
        job.timings = {**timings, "total_seconds": round((now - job.started_at).total_seconds(), 3)}
        job.status = ValuationJob.Status.SUCCEEDED
        job.stage = Stage.FINALISE
        job.finished_at = now
        job.notified_at = now
        job.save(
            update_fields=["summary", "timings", "status", "stage", "finished_at", "notified_at"]
        )
        job_id = job.pk
        transaction.on_commit(lambda: job_notify_finished(job_id=job_id))
    if not conf.keep_target_gradient():
        artefacts.artefact_delete(name=target_gradient_name(job_id=job.pk))
