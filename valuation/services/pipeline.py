"""The work of each pipeline step. Tasks call these between ``step_begin`` and
``step_finish``; each is idempotent (upserts, atomic renames), so a step that runs twice
leaves exactly what one run leaves.

Plan   pick the labelled samples per version (stratified by length, seeded per version so
       the exact-label cache is reusable), reuse cached exact labels, cut the rest of the
       work into chunks (rows of ``ValuationChunk``).
Embed  compute the sentence embeddings still missing in the pool and, with
       VALUATION_PROXY_LAYERS, the scored model's layer features (stored per sample+model).
Target g_T, the mean target-sample gradient, stored as artefact valuation/<job id>/...
Exact  exact LinFiK of a chunk of labelled samples (scores + cache rows).
Train  fit the proxy head on the labels' stored embeddings (and, with
       VALUATION_PROXY_TOKEN_FEATURES, the scored model's token features, then its stored
       layer features); fidelity on held-out labels.
Proxy  predict a keyset range of the pool from the same inputs.
Final  per-listing summary, timings, status; the buyer is told.
"""

from __future__ import annotations

import hashlib
import logging
import math
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from core import artefacts
from marketplace.models import Sample, TargetSample
from valuation import conf, worker_cache
from valuation.engine.alinfik import (
    MIN_LABELS,
    fit_head,
    heldout_fidelity,
    label_splits,
    stratified_selection,
)
from valuation.engine.data import EmptySampleError, tokenize_sample
from valuation.engine.proxy import (
    HeadConfig,
    LinFiKProxy,
    ProxyMetadata,
    TrainConfig,
    proxy_inputs,
)
from valuation.errors import ValuationRequestInvalid
from valuation.lock_objects import job_qs_select_for_update
from valuation.models import (
    ExactLabel,
    ExactLabelSet,
    ModelFeatureSet,
    SampleScore,
    ValuationChunk,
    ValuationJob,
)
from valuation.selectors import job_version_ids, pool_samples, version_sample_ids
from valuation.services.embeddings import (
    embedding_to_bytes,
    embeddings_from_bytes,
    samples_embed_missing,
    version_embeddings_compute,
)
from valuation.services.model_features import (
    TEXT_FIELDS,
    check_model_files,
    engine_record,
    engine_sample,
    extra_feature_name,
    extra_features_of,
    layer_feature_set_get_or_create,
    layer_features_read,
    proxy_input_labels,
    sample_token_features,
    version_layer_features_compute,
)
from valuation.services.scores import exact_labels_upsert, job_summary_compute, scores_upsert
from valuation.services.steps import check_stop

logger = logging.getLogger(__name__)

Stage = ValuationChunk.Stage
N_LENGTH_STRATA = 4


# ---- artefacts (core.artefacts: local files or object storage) ------------------------------


def job_artefact_prefix(*, job_id: int) -> str:
    return f"valuation/{job_id}"


def target_gradient_name(*, job_id: int) -> str:
    return f"{job_artefact_prefix(job_id=job_id)}/target_gradient.safetensors"


def proxy_name(*, job_id: int) -> str:
    return f"{job_artefact_prefix(job_id=job_id)}/proxy.safetensors"


# ---- helpers ---------------------------------------------------------------------------------


def version_seed(*, seed: int, version_id: int) -> int:
    """The label-selection seed of one version: independent of the rest of the pool, so the
    same (version, seed) always labels the same samples and the cache stays valid."""
    digest = hashlib.sha256(f"{seed}:{version_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def token_strata(token_counts: np.ndarray, n_buckets: int = N_LENGTH_STRATA) -> np.ndarray:
    """Quantile buckets of token count (the engine's ``length_strata``, on stored counts)."""
    lengths = np.asarray(token_counts, dtype=np.float64)
    edges = np.quantile(lengths, np.linspace(0.0, 1.0, n_buckets + 1)[1:-1])
    buckets = np.searchsorted(edges, lengths, side="right")
    names = np.array([f"length-q{bucket}" for bucket in range(n_buckets)], dtype=object)
    return names[buckets]  # references to n_buckets shared strings: 8 bytes per sample


def round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


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


# ---- plan ------------------------------------------------------------------------------------


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


# ---- model steps -----------------------------------------------------------------------------


def _check_model(job: ValuationJob) -> None:
    check_model_files(model_spec=job.model_spec, identity=job.model_identity)


def target_gradient_compute(*, chunk: ValuationChunk) -> None:
    job = ValuationJob.objects.select_related("task").get(pk=chunk.job_id)
    if job.task.target_set_hash != job.target_set_hash:
        raise ValuationRequestInvalid(
            "The task's target set changed after this valuation was requested; "
            "request a new valuation."
        )
    _check_model(job)
    scorer = worker_cache.get_scorer(job.model_spec)
    _export_token_source(job)
    targets = [  # ids as the buyer wrote them, so an error names the right target sample
        engine_sample(sample, sample_id=f"target {sample.external_id}")
        for sample in TargetSample.objects.filter(task_id=job.task_id).order_by("position")
    ]
    if not targets:
        raise ValuationRequestInvalid("The task has no target samples.")
    gradient = scorer.target_gradient(targets, between_batches=check_stop)
    worker_cache.save_target_gradient(gradient, target_gradient_name(job_id=job.pk))


def _export_token_source(job: ValuationJob) -> None:
    """With the model loaded for this step, store its token table for the proxy steps (once
    per model identity; a no-op once written)."""
    if job.method == ValuationJob.Method.ALINFIK and conf.proxy_token_features():
        worker_cache.export_token_source(job.model_spec)


def exact_chunk_compute(*, chunk: ValuationChunk) -> None:
    job = ValuationJob.objects.get(pk=chunk.job_id)
    _check_model(job)
    scorer = worker_cache.get_scorer(job.model_spec)
    _export_token_source(job)
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
        _check_model(job)
        version_layer_features_compute(
            feature_set=job.layer_features, model_spec=job.model_spec, **where
        )


def job_token_source(job: ValuationJob) -> worker_cache.TokenSource:
    """The scored model's tokenizer and embedding table for this job's proxy features: the
    files stored by the target/exact steps, else (none stored yet) from the model itself."""
    identity = job.model_identity or worker_cache.model_identity(job.model_spec)
    if not worker_cache.token_source_ready(identity):
        _check_model(job)
        worker_cache.export_token_source(job.model_spec)
    return worker_cache.get_token_source(identity)


def _model_features(
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


def _labelled_training_set(
    job: ValuationJob,
    source: worker_cache.TokenSource | None,
    layer_features: ModelFeatureSet | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(sample ids, exact scores, embeddings, model features or None) of the job's labels,
    in sample id order; model features as ``_model_features`` gives them."""
    rows = list(
        SampleScore.objects.filter(job=job, is_exact=True)
        .order_by("sample_id")
        .values_list("sample_id", "score")
    )
    ids = np.asarray([sample_id for sample_id, _ in rows], dtype=np.int64)
    scores = np.asarray([score for _, score in rows], dtype=np.float64)
    samples_embed_missing(sample_ids=ids.tolist())
    blobs: list[bytes] = []
    extra: list[np.ndarray] = []
    max_length = conf.max_length()
    fields = ("id", "embedding", *(() if source is None else TEXT_FIELDS))
    batch = conf.read_batch_size()
    for start in range(0, len(ids), batch):
        part = ids[start : start + batch].tolist()
        found = {row[0]: row for row in Sample.objects.filter(id__in=part).values_list(*fields)}
        rows = [found[sample_id] for sample_id in part]
        blobs.extend(row[1] for row in rows)
        columns = _model_features(job, rows, source, layer_features, max_length)
        if columns is not None:
            extra.append(columns)
    features = np.concatenate(extra) if extra else None
    return ids, scores, embeddings_from_bytes(blobs), features


def _finite_dict(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (None if isinstance(value, float) and not math.isfinite(value) else value)
        for key, value in values.items()
    }


def proxy_train(*, chunk: ValuationChunk) -> None:
    """Fit the proxy on the exact labels (cross-fitted members, VALUATION_PROXY_FOLDS x
    VALUATION_PROXY_REPEATS, or one split with VALUATION_PROXY_FOLDS=1), measure fidelity
    on held-out labels, store it as the job's proxy artefact."""
    job = ValuationJob.objects.select_related("layer_features").get(pk=chunk.job_id)
    source = job_token_source(job) if conf.proxy_token_features() else None
    ids, exact, features, extra = _labelled_training_set(job, source, job.layer_features)
    config = TrainConfig(
        max_epochs=conf.proxy_max_epochs(),
        patience=conf.proxy_patience(),
        max_length=conf.max_length(),
    )
    head_config = HeadConfig(
        input_dim=features.shape[1],
        hidden_dims=conf.proxy_hidden_dims(),
        extra_dim=0 if extra is None else extra.shape[1],
    )
    inputs = proxy_inputs(features, None, head_config, config.max_length, extra)
    folds = conf.proxy_folds()
    repeats = conf.proxy_repeats() if folds > 1 else 1
    splits = label_splits(len(ids), folds, job.seed, repeats=repeats)
    fit = fit_head(inputs, exact, splits, head_config=head_config, config=config, seed=job.seed)
    identity = worker_cache.current_encoder_identity()
    metadata = ProxyMetadata(
        head=fit.head.config,
        target_mean=fit.scaler.mean,
        target_std=fit.scaler.std,
        encoder_identity=identity,
        base_encoder_identity=identity,
        max_length=config.max_length,
        extra_features=extra_feature_name(
            tokens=source is not None, feature_set=job.layer_features
        ),
        model_identity=job.model_identity,
        target_hash=job.target_set_hash,
        seed=job.seed,
        label_fraction=job.label_fraction,
        n_labelled=len(ids),
        training={
            "best_epoch": fit.report.best_epoch,
            "epochs_run": fit.report.epochs_run,
            "best_val_spearman": fit.report.best_val_spearman,
        },
    )
    metadata.fidelity = heldout_fidelity(exact, fit.heldout)
    with tempfile.TemporaryDirectory(dir=artefacts.scratch_root()) as scratch:
        path = LinFiKProxy(fit.head, metadata).save(Path(scratch) / "proxy.safetensors")
        artefacts.artefact_save(name=proxy_name(job_id=job.pk), path=path)
    fidelity = _finite_dict(
        {
            **metadata.fidelity,
            "folds": len(splits) // repeats,
            "repeats": repeats,
            "inputs": proxy_input_labels(tokens=source is not None, feature_set=job.layer_features),
            "best_val_spearman": fit.report.best_val_spearman,
            "epochs_run": fit.report.epochs_run,
        }
    )
    ValuationJob.objects.filter(pk=job.pk).update(fidelity=fidelity)


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
    extra = _model_features(job, rows, source, layer_features, proxy.metadata.max_length)
    predicted = proxy.predict(embeddings_from_bytes(blobs), extra_features=extra)
    scores_upsert(
        job_id=job.pk,
        rows=zip(ids, [version_id] * len(ids), predicted.tolist(), strict=True),
        is_exact=False,
    )


# ---- finalise --------------------------------------------------------------------------------


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
        job.summary = summary
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
