"""Plan: pick the labelled samples per version (stratified by length, seeded per version so
the exact-label cache is reusable), reuse cached exact labels, cut the rest of the work
into chunks (rows of ``ValuationChunk``)."""

from __future__ import annotations

import hashlib
import logging
from array import array
from collections.abc import Iterator
from typing import Any

import numpy as np
from django.db import transaction

from valuation import conf, worker_cache
from valuation.engine.crossfit import MIN_LABELS
from valuation.engine.labels import quantile_strata, round_half_up, stratified_selection
from valuation.errors import ValuationRequestInvalid
from valuation.lock_objects import job_qs_select_for_update
from valuation.models import ExactLabel, ExactLabelSet, ValuationChunk, ValuationJob
from valuation.selectors import job_version_ids, version_sample_ids
from valuation.services.model_features import layer_feature_set_get_or_create
from valuation.services.scores import scores_upsert

logger = logging.getLogger(__name__)

Stage = ValuationChunk.Stage
N_LENGTH_STRATA = 4


def version_seed(*, seed: int, version_id: int) -> int:
    """The label-selection seed of one version: independent of the rest of the pool, so the
    same (version, seed) always labels the same samples and the cache stays valid."""
    digest = hashlib.sha256(f"{seed}:{version_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def token_strata(token_counts: np.ndarray, n_buckets: int = N_LENGTH_STRATA) -> np.ndarray:
    """Quantile buckets of stored token counts (the engine's strata, on what the DB holds)."""
    return quantile_strata(token_counts, n_buckets)


def labels_for_pool(*, counts: dict[int, int], fraction: float) -> int:
    """How many exact labels ALinFiK takes from versions of these sizes."""
    return sum(min(n, max(1, round_half_up(fraction * n))) for n in counts.values() if n)


def _ranges(ids: np.ndarray, size: int) -> Iterator[tuple[int, int, int]]:
    for start in range(0, len(ids), size):
        part = ids[start : start + size]
        yield int(part[0]), int(part[-1]), len(part)


def _id_arrays(
    version_id: int, *, missing_features: bool = False, layer_features: int | None = None
) -> tuple[np.ndarray, ...]:
    """(ids, token counts) of a version's pool; with ``missing_features``, of the samples
    that lack an embedding or a row of the ``layer_features`` set."""
    batch = conf.read_batch_size()
    rows = version_sample_ids(
        version_id=version_id,
        batch_size=batch,
        missing_embedding=missing_features,
        missing_layer_features=layer_features if missing_features else None,
    )
    ids, tokens = array("q"), array("q")  # 16 bytes per sample, not Python int objects
    for sample_id, token_count in rows:
        ids.append(sample_id)
        tokens.append(token_count)
    return np.frombuffer(ids, dtype=np.int64), np.frombuffer(tokens, dtype=np.int64)


def _chunk(job: ValuationJob, stage: str, index: int, size: int, **params: Any) -> ValuationChunk:
    return ValuationChunk(job=job, stage=stage, index=index, size=size, params=params)


def job_plan(*, job_id: int) -> None:
    """Cut the job into steps. All or nothing: a re-run after a crash starts over."""
    job = ValuationJob.objects.select_related("task").get(pk=job_id)
    if job.planned:
        return
    identity = worker_cache.model_identity(job.model_spec)
    max_length = conf.max_length()
    exact_size = conf.exact_chunk_size()
    embed_size = conf.embed_chunk_size()
    proxy_size = conf.proxy_chunk_size()
    alinfik = job.method == ValuationJob.Method.ALINFIK
    layer_features = (
        layer_feature_set_get_or_create(model_spec=job.model_spec, identity=identity)
        if alinfik
        else None
    )
    chunks: list[ValuationChunk] = []
    counters = {"pool": 0, "labelled": 0, "cached": 0}
    indices = {Stage.EMBED: 0, Stage.EXACT: 0, Stage.PROXY: 0}

    with transaction.atomic():
        for version_id in job_version_ids(job=job):
            ids, tokens = _id_arrays(version_id)
            if not len(ids):
                continue
            counters["pool"] += len(ids)
            if alinfik:
                strata = token_strata(tokens)
                chosen = stratified_selection(
                    strata, job.label_fraction, version_seed(seed=job.seed, version_id=version_id)
                )
                labelled = ids[chosen]
                for id_min, id_max, size in _ranges(ids, proxy_size):
                    chunks.append(
                        _chunk(
                            job,
                            Stage.PROXY,
                            indices[Stage.PROXY],
                            size,
                            version=version_id,
                            id_min=id_min,
                            id_max=id_max,
                        )
                    )
                    indices[Stage.PROXY] += 1
                missing, _ = _id_arrays(
                    version_id,
                    missing_features=True,
                    layer_features=layer_features.pk if layer_features else None,
                )
                for id_min, id_max, size in _ranges(missing, embed_size):
                    chunks.append(
                        _chunk(
                            job,
                            Stage.EMBED,
                            indices[Stage.EMBED],
                            size,
                            version=version_id,
                            id_min=id_min,
                            id_max=id_max,
                        )
                    )
                    indices[Stage.EMBED] += 1
            else:
                labelled = ids
            del ids, tokens
            label_set, _ = ExactLabelSet.objects.get_or_create(
                model_identity=identity,
                version_id=version_id,
                target_set_hash=job.target_set_hash,
                seed=job.seed,
                max_length=max_length,
            )
            cached = np.fromiter(
                ExactLabel.objects.filter(label_set=label_set)
                .values_list("sample_id", flat=True)
                .iterator(chunk_size=conf.read_batch_size()),
                dtype=np.int64,
            )
            hit = np.isin(labelled, cached)
            _copy_cached_labels(job, label_set, version_id, labelled[hit])
            counters["labelled"] += len(labelled)
            counters["cached"] += int(hit.sum())
            todo = labelled[~hit]
            for start in range(0, len(todo), exact_size):
                part = todo[start : start + exact_size]
                chunks.append(
                    _chunk(
                        job,
                        Stage.EXACT,
                        indices[Stage.EXACT],
                        len(part),
                        version=version_id,
                        label_set=label_set.pk,
                        sample_ids=[int(i) for i in part],
                    )
                )
                indices[Stage.EXACT] += 1

        if counters["pool"] == 0:
            raise ValuationRequestInvalid("The pool has no samples left to value.")
        if alinfik and counters["labelled"] < MIN_LABELS:
            raise ValuationRequestInvalid(
                f"ALinFiK needs at least {MIN_LABELS} exact labels, but this pool and label "
                f"fraction give {counters['labelled']}; raise the label fraction."
            )
        if indices[Stage.EXACT]:
            chunks.append(_chunk(job, Stage.TARGET, 0, counters["labelled"] - counters["cached"]))
        if alinfik:
            chunks.append(_chunk(job, Stage.TRAIN, 0, counters["labelled"]))
        chunks.append(_chunk(job, Stage.FINALISE, 0, counters["pool"]))
        ValuationChunk.objects.bulk_create(chunks, batch_size=500)

        job = job_qs_select_for_update().get(pk=job_id)
        job.planned = True
        job.model_identity = identity
        job.layer_features = layer_features
        job.pool_size = counters["pool"]
        job.n_labelled = counters["labelled"]
        job.n_labels_cached = counters["cached"]
        job.progress_total = ValuationChunk.objects.filter(job=job).count()
        job.save(
            update_fields=[
                "planned",
                "model_identity",
                "layer_features",
                "pool_size",
                "n_labelled",
                "n_labels_cached",
                "progress_total",
            ]
        )
    logger.info(
        "job %s planned: %s samples, %s labels (%s cached), %s steps",
        job_id,
        counters["pool"],
        counters["labelled"],
        counters["cached"],
        len(chunks) + 1,
    )


def _copy_cached_labels(
    job: ValuationJob, label_set: ExactLabelSet, version_id: int, sample_ids: np.ndarray
) -> None:
    batch = conf.write_batch_size()
    for start in range(0, len(sample_ids), batch):
        part = [int(i) for i in sample_ids[start : start + batch]]
        rows = ExactLabel.objects.filter(label_set=label_set, sample_id__in=part).values_list(
            "sample_id", "score"
        )
        scores_upsert(
            job_id=job.pk,
            rows=((sample_id, version_id, score) for sample_id, score in rows),
            is_exact=True,
        )
