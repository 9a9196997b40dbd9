"""Train: fit the proxy head on the labels' stored embeddings (and, with
VALUATION_PROXY_TOKEN_FEATURES, the scored model's token features, then its stored layer
features); fidelity on held-out labels."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from core import artefacts
from marketplace.models import Sample
from valuation import conf, worker_cache
from valuation.engine.crossfit import label_splits
from valuation.engine.fit import ProxyProvenance, fit_proxy
from valuation.engine.heads import HeadConfig, proxy_inputs
from valuation.engine.training import TrainConfig
from valuation.models import ModelFeatureSet, SampleScore, ValuationChunk, ValuationJob
from valuation.services.embeddings import embeddings_from_bytes, samples_embed_missing
from valuation.services.model_features import TEXT_FIELDS, extra_feature_name, proxy_input_labels
from valuation.services.pipeline.artefacts import proxy_name
from valuation.services.pipeline.features import job_token_source, model_features


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
        columns = model_features(job, rows, source, layer_features, max_length)
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
    fit = fit_proxy(
        inputs=inputs,
        labels=exact,
        splits=splits,
        repeats=repeats,
        head_config=head_config,
        config=config,
        seed=job.seed,
        encoder_identity=worker_cache.current_encoder_identity(),
        provenance=ProxyProvenance(
            model_identity=job.model_identity,
            target_hash=job.target_set_hash,
            seed=job.seed,
            label_fraction=job.label_fraction,
            extra_features=extra_feature_name(
                tokens=source is not None, feature_set=job.layer_features
            ),
        ),
    )
    with tempfile.TemporaryDirectory(dir=artefacts.scratch_root()) as scratch:
        path = fit.proxy.save(Path(scratch) / "proxy.safetensors")
        artefacts.artefact_save(name=proxy_name(job_id=job.pk), path=path)
    fidelity = _finite_dict(
        {
            **fit.proxy.metadata.fidelity,  # folds and repeats stored as whole numbers below
            "folds": len(splits) // repeats,
            "repeats": repeats,
            "inputs": proxy_input_labels(tokens=source is not None, feature_set=job.layer_features),
            "best_val_spearman": fit.report.best_val_spearman,
            "epochs_run": fit.report.epochs_run,
        }
    )
    ValuationJob.objects.filter(pk=job.pk).update(fidelity=fidelity)
