"""The scored model's side of the proxy's inputs, shared by the model and proxy steps:
its files, its token table, and the extra feature columns of a page of samples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from valuation import conf, worker_cache
from valuation.models import ModelFeatureSet, ValuationJob
from valuation.services.model_features import (
    check_model_files,
    engine_record,
    layer_features_read,
    sample_token_features,
)


def check_model(job: ValuationJob) -> None:
    check_model_files(model_spec=job.model_spec, identity=job.model_identity)


def export_token_source(job: ValuationJob) -> None:
    """With the model loaded for this step, store its token table for the proxy steps (once
    per model identity; a no-op once written)."""
    if job.method == ValuationJob.Method.ALINFIK and conf.proxy_token_features():
        worker_cache.export_token_source(job.model_spec)


def job_token_source(job: ValuationJob) -> worker_cache.TokenSource:
    """The scored model's tokenizer and embedding table for this job's proxy features: the
    files stored by the target/exact steps, else (none stored yet) from the model itself."""
    identity = job.model_identity or worker_cache.model_identity(job.model_spec)
    if not worker_cache.token_source_ready(identity):
        check_model(job)
        worker_cache.export_token_source(job.model_spec)
    return worker_cache.get_token_source(identity)


def model_features(
    job: ValuationJob,
    rows: Sequence[tuple],
    source: worker_cache.TokenSource | None,
    layer_features: ModelFeatureSet | None,
    max_length: int,
) -> np.ndarray | None:
    """The proxy's extra columns for rows (id, embedding[, text, prompt, response]): token
    features with ``source``, then the stored layer features of ``layer_features``."""
    parts = []
    if source is not None:
        records = [engine_record(str(row[0]), *row[2:]) for row in rows]
        parts.append(sample_token_features(records, source, max_length))
    if layer_features is not None:
        ids = [row[0] for row in rows]
        parts.append(
            layer_features_read(
                feature_set=layer_features, model_spec=job.model_spec, sample_ids=ids
            )
        )
    return np.hstack(parts) if parts else None
