"""Exact: exact LinFiK of a chunk of labelled samples (scores + cache rows)."""

from __future__ import annotations

import math

import numpy as np

from marketplace.models import Sample
from valuation import worker_cache
from valuation.engine.data import EmptySampleError, tokenize_sample
from valuation.models import ValuationChunk, ValuationJob
from valuation.services.model_features import engine_sample
from valuation.services.pipeline.artefacts import target_gradient_name
from valuation.services.pipeline.features import check_model, export_token_source
from valuation.services.scores import exact_labels_upsert, scores_upsert
from valuation.services.steps import check_stop


def exact_chunk_compute(*, chunk: ValuationChunk) -> None:
    job = ValuationJob.objects.get(pk=chunk.job_id)
    check_model(job)
    scorer = worker_cache.get_scorer(job.model_spec)
    export_token_source(job)
    target = worker_cache.get_target_gradient(target_gradient_name(job_id=job.pk))
    version_id = int(chunk.params["version"])
    samples = (
        Sample.objects.filter(id__in=chunk.params["sample_ids"])
        .only("id", "text", "prompt", "response")
        .order_by("id")
    )
    tokenized, scored_ids, empty_ids = [], [], []
    for sample in samples:
        try:
            tokenized.append(
                tokenize_sample(engine_sample(sample), scorer.tokenizer, scorer.max_length)
            )
            scored_ids.append(sample.pk)
        except EmptySampleError:
            # No predicted token: the sample adds nothing to the loss, its LinFiK is 0.
            empty_ids.append(sample.pk)
    values = (
        scorer.score(tokenized, target, between_batches=check_stop) if tokenized else np.empty(0)
    )
    rows = [(sample_id, float(v)) for sample_id, v in zip(scored_ids, values, strict=True)]
    rows += [(sample_id, 0.0) for sample_id in empty_ids]
    if not all(math.isfinite(score) for _, score in rows):
        raise ValueError("exact LinFiK produced a non-finite score (model or data overflow)")
    exact_labels_upsert(label_set_id=int(chunk.params["label_set"]), rows=rows)
    scores_upsert(
        job_id=job.pk,
        rows=((sample_id, version_id, score) for sample_id, score in rows),
        is_exact=True,
    )
