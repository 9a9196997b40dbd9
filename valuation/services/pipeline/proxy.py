"""Proxy: predict a keyset range of the pool from the same inputs as training."""

from __future__ import annotations

from valuation import conf, worker_cache
from valuation.engine.proxy import LinFiKProxy
from valuation.models import ModelFeatureSet, SampleScore, ValuationChunk, ValuationJob
from valuation.selectors import pool_samples
from valuation.services.embeddings import (
    embedding_to_bytes,
    embeddings_from_bytes,
    samples_embed_missing,
)
from valuation.services.model_features import TEXT_FIELDS, extra_features_of
from valuation.services.pipeline.artefacts import proxy_name
from valuation.services.pipeline.features import job_token_source, model_features
from valuation.services.scores import scores_upsert
from valuation.services.steps import check_stop


def proxy_chunk_compute(*, chunk: ValuationChunk) -> None:
    """Score a keyset range of the pool with the proxy, page by page (bounded memory); the
    job's exact labels keep their exact scores."""
    job_id = chunk.job_id
    version_id = int(chunk.params["version"])
    proxy = worker_cache.get_proxy(proxy_name(job_id=job_id))
    job = ValuationJob.objects.select_related("layer_features").get(pk=job_id)
    # The proxy decides which extra columns to compute, not today's settings: it was trained so.
    tokens, layer_features = extra_features_of(
        name=proxy.metadata.extra_features, feature_set=job.layer_features
    )
    source = job_token_source(job) if tokens else None
    id_min, id_max = int(chunk.params["id_min"]), int(chunk.params["id_max"])
    exact_ids = set(
        SampleScore.objects.filter(
            job_id=job_id, is_exact=True, sample_id__gte=id_min, sample_id__lte=id_max
        ).values_list("sample_id", flat=True)
    )
    page = conf.write_batch_size()
    fields = ("id", "embedding", *(() if source is None else TEXT_FIELDS))
    features = (job, source, layer_features)
    rows = (
        pool_samples(version_ids=[version_id])
        .filter(id__gte=id_min, id__lte=id_max)
        .order_by("id")
        .values_list(*fields)
        .iterator(chunk_size=page)
    )
    buffer: list[tuple] = []
    for row in rows:
        if row[0] not in exact_ids:
            buffer.append(row)
        if len(buffer) >= page:
            check_stop()
            _score_page(version_id, proxy, buffer, *features)
            buffer = []
    if buffer:
        _score_page(version_id, proxy, buffer, *features)


def _score_page(
    version_id: int,
    proxy: LinFiKProxy,
    rows: list[tuple],
    job: ValuationJob,
    source: worker_cache.TokenSource | None,
    layer_features: ModelFeatureSet | None,
) -> None:
    """Score one page: rows (id, embedding blob or None[, text, prompt, response])."""
    ids = [row[0] for row in rows]
    missing = [row[0] for row in rows if row[1] is None]
    fresh = samples_embed_missing(sample_ids=missing) if missing else {}
    blobs = [row[1] if row[1] is not None else embedding_to_bytes(fresh[row[0]]) for row in rows]
    extra = model_features(job, rows, source, layer_features, proxy.metadata.max_length)
    predicted = proxy.predict(embeddings_from_bytes(blobs), extra_features=extra)
    scores_upsert(
        job_id=job.pk,
        rows=zip(ids, [version_id] * len(ids), predicted.tolist(), strict=True),
        is_exact=False,
    )
