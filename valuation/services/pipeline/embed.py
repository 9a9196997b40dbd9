"""Embed: the sentence embeddings still missing in the pool and, with
VALUATION_PROXY_LAYERS, the scored model's layer features (stored per sample+model)."""

from __future__ import annotations

from valuation.models import ValuationChunk, ValuationJob
from valuation.services.embeddings import version_embeddings_compute
from valuation.services.model_features import version_layer_features_compute
from valuation.services.pipeline.features import check_model


def embed_chunk_compute(*, chunk: ValuationChunk) -> None:
    """The sentence embeddings and the job's layer features a range of the pool lacks."""
    job = ValuationJob.objects.select_related("layer_features").get(pk=chunk.job_id)
    where = {
        "version_id": int(chunk.params["version"]),
        "id_min": int(chunk.params["id_min"]),
        "id_max": int(chunk.params["id_max"]),
    }
    version_embeddings_compute(**where)
    if job.layer_features is not None:
        check_model(job)
        version_layer_features_compute(
            feature_set=job.layer_features, model_spec=job.model_spec, **where
        )
