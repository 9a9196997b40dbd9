"""Sentence embeddings of samples, computed once and stored on ``Sample.embedding``.

An embedding depends only on a sample's text and the encoder, never on a buyer's task, so
it is computed at ingest (``version_embeddings_request``) and reused by every valuation;
the valuation pipeline only computes the ones still missing. Stored as little-endian
float32 bytes (384 values for MiniLM), unit length.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from django.db import transaction

from marketplace.models import DatasetVersion, Sample
from valuation import conf
from valuation.selectors import pool_samples, sample_id_pages
from valuation.services.steps import check_stop

logger = logging.getLogger(__name__)

EMBEDDING_DTYPE = np.dtype("<f4")


def embedding_to_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=EMBEDDING_DTYPE).tobytes()


def embeddings_from_bytes(blobs: Sequence[bytes | memoryview]) -> np.ndarray:
    """Stack stored embeddings into a float32 matrix [N, dim]."""
    if not blobs:
        return np.empty((0, 0), dtype=np.float32)
    joined = bytearray().join(blobs)  # writable, so torch can wrap it without a copy
    matrix = np.frombuffer(joined, dtype=EMBEDDING_DTYPE)
    return matrix.reshape(len(blobs), -1).astype(np.float32, copy=False)


def _embedding_text(sample: Sample) -> str:
    return sample.display_text


def samples_embed_missing(*, sample_ids: Sequence[int]) -> dict[int, np.ndarray]:
    """Compute and store embeddings for those of ``sample_ids`` that have none.

    Returns the new embeddings by sample id (empty when every sample already had one).
    """
    from valuation import worker_cache

    missing = list(
        Sample.objects.filter(id__in=list(sample_ids), embedding__isnull=True)
        .only("id", "text", "prompt", "response")
        .order_by("id")
    )
    if not missing:
        return {}
    encoder = worker_cache.get_encoder()
    vectors = encoder.encode(
        [_embedding_text(sample) for sample in missing],
        batch_size=conf.embed_batch_size(),
        max_length=conf.max_length(),
        between_batches=check_stop,
    )
    for sample, vector in zip(missing, vectors, strict=True):
        sample.embedding = embedding_to_bytes(vector)
    with transaction.atomic():
        Sample.objects.bulk_update(missing, ["embedding"], batch_size=500)
    return {sample.pk: vector for sample, vector in zip(missing, vectors, strict=True)}


def version_embeddings_compute(
    *, version_id: int, id_min: int | None = None, id_max: int | None = None
) -> int:
    """Embed a version's samples that have no embedding yet, page by page (each page is
    committed, so an interrupted run resumes where it stopped). Returns how many were new."""
    pages = sample_id_pages(
        pool_samples(version_ids=[version_id]).filter(embedding__isnull=True),
        page_size=conf.embed_chunk_size(),
        id_min=id_min,
        id_max=id_max,
    )
    return sum(len(samples_embed_missing(sample_ids=ids)) for ids in pages)


def version_embeddings_request(*, version: DatasetVersion) -> None:
    """Queue the embedding of a ready version's samples on a gpu worker (after commit).

    The marketplace calls this when a version becomes ready; valuations reuse the result.
    """
    from valuation.tasks.gpu import embed_version

    version_id = version.pk
    transaction.on_commit(lambda: embed_version.delay(version_id))


def pool_embeddings_missing(*, version_ids: list[int]) -> int:
    return pool_samples(version_ids=version_ids).filter(embedding__isnull=True).count()
