"""Target: g_T, the mean target-sample gradient, stored as artefact valuation/<job id>/..."""

from __future__ import annotations

from marketplace.models import TargetSample
from valuation import worker_cache
from valuation.errors import ValuationRequestInvalid
from valuation.models import ValuationChunk, ValuationJob
from valuation.services.model_features import engine_sample
from valuation.services.pipeline.artefacts import target_gradient_name
from valuation.services.pipeline.features import check_model, export_token_source
from valuation.services.steps import check_stop


def target_gradient_compute(*, chunk: ValuationChunk) -> None:
    job = ValuationJob.objects.select_related("task").get(pk=chunk.job_id)
    if job.task.target_set_hash != job.target_set_hash:
        raise ValuationRequestInvalid(
            "The task's target set changed after this valuation was requested; "
            "request a new valuation."
        )
    check_model(job)
    scorer = worker_cache.get_scorer(job.model_spec)
    export_token_source(job)
    targets = [  # ids as the buyer wrote them, so an error names the right target sample
        engine_sample(sample, sample_id=f"target {sample.external_id}")
        for sample in TargetSample.objects.filter(task_id=job.task_id).order_by("position")
    ]
    if not targets:
        raise ValuationRequestInvalid("The task has no target samples.")
    gradient = scorer.target_gradient(targets, between_batches=check_stop)
    worker_cache.save_target_gradient(gradient, target_gradient_name(job_id=job.pk))
