"""The pipeline as a Celery canvas, built from the job's unfinished steps::

    group(embed chunks) -> target gradient -> group(exact chunks) -> train proxy
        -> group(proxy chunks) -> finalise

A group followed by a task is a chord, so each stage starts once every chunk of the one
before it returned. Model work goes to queue ``gpu``, orchestration to ``default`` (by
task name, CELERY_TASK_ROUTES). Every dispatch gives the steps fresh task ids, stored on
their rows: a message left over from an earlier dispatch finds a different id and no-ops.
"""

from __future__ import annotations

import logging
import uuid

from celery import chain, group
from celery.canvas import Signature
from django.db import transaction

from valuation.lock_objects import chunk_qs_select_for_update, job_qs_select_for_update
from valuation.models import ValuationChunk, ValuationJob

logger = logging.getLogger(__name__)


def _stage_tasks() -> dict[str, object]:
    from valuation.tasks import gpu, orchestration

    return {
        ValuationChunk.Stage.EMBED: gpu.embed_chunk,
        ValuationChunk.Stage.TARGET: gpu.target_gradient,
        ValuationChunk.Stage.EXACT: gpu.exact_chunk,
        ValuationChunk.Stage.TRAIN: gpu.train_proxy,
        ValuationChunk.Stage.PROXY: gpu.proxy_chunk,
        ValuationChunk.Stage.FINALISE: orchestration.finalise,
    }


def build_pipeline(*, job_id: int, chunks: list[ValuationChunk]) -> Signature | None:
    tasks = _stage_tasks()
    parts: list[Signature] = []
    for stage in ValuationChunk.ORDER[1:]:
        signatures = [
            tasks[stage].si(job_id, chunk.index).set(task_id=chunk.task_id)
            for chunk in chunks
            if chunk.stage == stage
        ]
        if len(signatures) == 1:
            parts.append(signatures[0])
        elif signatures:
            parts.append(group(signatures))
    if not parts:
        return None
    return chain(*parts) if len(parts) > 1 else parts[0]


def job_dispatch(*, job_id: int, force: bool = False) -> bool:
    """Send the canvas of the job's unfinished steps, once per round (again with ``force``,
    after a worker died); False when nothing was sent."""
    with transaction.atomic():
        job = job_qs_select_for_update().get(pk=job_id)
        if not job.is_active or not job.planned:
            return False
        if job.dispatched_round == job.round and not force:
            return False
        chunks = list(
            chunk_qs_select_for_update()
            .filter(job=job)
            .exclude(stage=ValuationChunk.Stage.PLAN)
            .exclude(status=ValuationChunk.Status.DONE)
            .order_by("id")
        )
        for chunk in chunks:
            chunk.task_id = uuid.uuid4().hex
        ValuationChunk.objects.bulk_update(chunks, ["task_id"], batch_size=500)
        round_ = job.round
    pipeline = build_pipeline(job_id=job_id, chunks=chunks)
    if pipeline is not None:
        pipeline.apply_async()
    ValuationJob.objects.filter(pk=job_id, round=round_).update(dispatched_round=round_)
    logger.info("job %s: dispatched %s steps (round %s)", job_id, len(chunks), round_)
    return True
