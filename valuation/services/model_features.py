"""Proxy inputs read off the scored model (engine ``token_features.py``, ``layer_features.py``).

Token features: a tokenisation and a lookup in the model's exported input-embedding table,
cheap enough to compute whenever a step needs them.

Layer features: the hidden state after the model's first layers, one truncated forward pass
per sample. Like the sentence embedding they do not depend on a buyer's task, so each
sample's row is stored once per (model, layers, max_length), a ``ModelFeatureSet``, and
every later valuation on that model reads it. A job's embed steps compute the rows its pool
lacks; a step that still finds one missing computes it on the spot.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from marketplace.models import Sample, TargetSample
from valuation import conf, worker_cache
from valuation.engine.data import EmptySampleError, pad_token_id, tokenize_sample
from valuation.engine.data import Sample as EngineSample
from valuation.engine.layer_features import hidden_state_features, layer_count, layer_feature_name
from valuation.engine.models import ModelLoadError
from valuation.engine.token_features import FEATURE_NAME, token_embedding_features
from valuation.errors import ValuationRequestInvalid
from valuation.models import ModelFeatureSet, SampleModelFeature
from valuation.selectors import feature_set_rows_missing, pool_samples, sample_id_pages
from valuation.services.embeddings import embedding_to_bytes, embeddings_from_bytes
from valuation.services.steps import check_stop

logger = logging.getLogger(__name__)

TEXT_FIELDS = ("text", "prompt", "response")  # what tokenising a sample reads


# ---- samples as the engine sees them ----------------------------------------------------------


def engine_record(
    sample_id: str, text: str | None, prompt: str | None, response: str | None
) -> EngineSample:
    if text is not None:
        return EngineSample(id=sample_id, text=text)
    return EngineSample(id=sample_id, prompt=prompt, response=response)


def engine_sample(sample: Sample | TargetSample, *, sample_id: str | None = None) -> EngineSample:
    """A database sample as the engine's record (id: the primary key unless given)."""
    return engine_record(sample_id or str(sample.pk), sample.text, sample.prompt, sample.response)


def check_model_files(*, model_spec: str, identity: str) -> None:
    """Refuse model work when the spec's files no longer hash to ``identity``, the model a
    job was planned with (no check before planning, when ``identity`` is empty)."""
    if identity and worker_cache.model_identity(model_spec) != identity:
        raise ValuationRequestInvalid(
            f"The files of model {model_spec!r} changed after this job was planned; "
            "request a new valuation."
        )


def _tokenize_nonempty(samples: Sequence[EngineSample], tokenizer, max_length: int):
    """(tokenized samples, their rows in ``samples``): samples with no predicted token are
    left out (their exact LinFiK is 0 by definition; their feature rows stay zero)."""
    tokenized, rows = [], []
    for row, sample in enumerate(samples):
        try:
            tokenized.append(tokenize_sample(sample, tokenizer, max_length))
            rows.append(row)
        except EmptySampleError:
            continue
    return tokenized, rows


# ---- token features --------------------------------------------------------------------------


def sample_token_features(
    samples: Sequence[EngineSample], source: worker_cache.TokenSource, max_length: int
) -> np.ndarray:
    """[N, dim + 1] token features (engine ``token_embedding_features``) of samples
    tokenised exactly as the exact stage tokenises them. A sample with no predicted token
    gets an all-zero row: zero mean embedding and log-count 0, the row of a single predicted
    token with a zero embedding."""
    features = np.zeros((len(samples), source.feature_dim), dtype=np.float32)
    tokenized, rows = _tokenize_nonempty(samples, source.tokenizer, max_length)
    if tokenized:
        features[rows] = token_embedding_features(tokenized, source.embedding_matrix)
    return features


# ---- layer features --------------------------------------------------------------------------


def _layers_run(model_spec: str) -> int:
    """VALUATION_PROXY_LAYERS capped at the model's layer count (0: off). Reads the model's
    configuration, not its weights."""
    requested = conf.proxy_layers()
    if requested <= 0:
        return 0
    return min(requested, layer_count(worker_cache.model_config(model_spec)))


def layer_feature_set_get_or_create(*, model_spec: str, identity: str) -> ModelFeatureSet | None:
    """The layer-feature set a job on this model reads under the current settings, or None
    when VALUATION_PROXY_LAYERS is 0."""
    layers = _layers_run(model_spec)
    if not layers:
        return None
    feature_set, _ = ModelFeatureSet.objects.get_or_create(
        model_identity=identity,
        layers=layers,
        max_length=conf.max_length(),
        defaults={"dim": int(worker_cache.model_config(model_spec).hidden_size)},
    )
    return feature_set


def samples_layer_features_missing(
    *, feature_set: ModelFeatureSet, model_spec: str, sample_ids: Sequence[int]
) -> int:
    """Compute and store the rows of ``sample_ids`` that ``feature_set`` lacks (loading the
    model in this process if need be). Returns how many were computed."""
    missing = list(
        Sample.objects.filter(id__in=list(sample_ids))
        .filter(feature_set_rows_missing(feature_set_id=feature_set.pk))
        .only("id", *TEXT_FIELDS)
        .order_by("id")
    )
    if not missing:
        return 0
    check_model_files(model_spec=model_spec, identity=feature_set.model_identity)
    loaded = worker_cache.get_model(model_spec)
    vectors = np.zeros((len(missing), feature_set.dim), dtype=np.float32)
    records = [engine_sample(sample) for sample in missing]
    tokenized, rows = _tokenize_nonempty(records, loaded.tokenizer, feature_set.max_length)
    if tokenized:
        vectors[rows] = hidden_state_features(
            loaded.model,
            tokenized,
            pad_id=pad_token_id(loaded.tokenizer),
            layers=feature_set.layers,
            batch_size=conf.embed_batch_size(),
            between_batches=check_stop,
        )
    SampleModelFeature.objects.bulk_create(
        [
            SampleModelFeature(feature_set=feature_set, sample=sample, vector=embedding_to_bytes(v))
            for sample, v in zip(missing, vectors, strict=True)
        ],
        batch_size=500,
        ignore_conflicts=True,  # another worker stored the same rows first: they are equal
    )
    return len(missing)


def version_layer_features_compute(
    *,
    feature_set: ModelFeatureSet,
    model_spec: str,
    version_id: int,
    id_min: int | None = None,
    id_max: int | None = None,
) -> int:
    """Store the rows a version's pool samples (in [id_min, id_max] if given) lack, page by
    page (each page is committed, so an interrupted run resumes where it stopped)."""
    pages = sample_id_pages(
        pool_samples(version_ids=[version_id]).filter(
            feature_set_rows_missing(feature_set_id=feature_set.pk)
        ),
        page_size=conf.embed_chunk_size(),
        id_min=id_min,
        id_max=id_max,
    )
    return sum(
        samples_layer_features_missing(
            feature_set=feature_set, model_spec=model_spec, sample_ids=ids
        )
        for ids in pages
    )


def version_layer_features_at_ingest(*, version_id: int) -> int:
    """At ingest, a version's rows of the layer-feature sets valuations already use: those of
    the offered models under the current settings that exist (a set is created by the first
    valuation on its model, so no model is loaded for a model nobody values with). Returns
    how many rows were computed."""
    max_length = conf.max_length()
    in_use = ModelFeatureSet.objects.filter(max_length=max_length)
    if conf.proxy_layers() <= 0 or not in_use.exists():
        return 0
    computed = 0
    for spec in conf.model_choices():
        try:
            identity = worker_cache.model_identity(spec)
            layers = _layers_run(spec)
        except ModelLoadError as exc:  # an offered model that is not installed here
            logger.warning("no layer features of model %s at ingest: %s", spec, exc)
            continue
        for feature_set in in_use.filter(model_identity=identity, layers=layers):
            computed += version_layer_features_compute(
                feature_set=feature_set, model_spec=spec, version_id=version_id
            )
    return computed


def layer_features_read(
    *, feature_set: ModelFeatureSet, model_spec: str, sample_ids: Sequence[int]
) -> np.ndarray:
    """[N, dim] float32 rows of ``sample_ids`` in that order, computing any still missing."""
    if not sample_ids:
        return np.zeros((0, feature_set.dim), dtype=np.float32)
    samples_layer_features_missing(
        feature_set=feature_set, model_spec=model_spec, sample_ids=sample_ids
    )
    stored = dict(
        SampleModelFeature.objects.filter(
            feature_set=feature_set, sample_id__in=list(sample_ids)
        ).values_list("sample_id", "vector")
    )
    return embeddings_from_bytes([stored[sample_id] for sample_id in sample_ids])


# ---- what a proxy reads ----------------------------------------------------------------------


def extra_feature_name(*, tokens: bool, feature_set: ModelFeatureSet | None) -> str:
    """The name a proxy's metadata records for its extra columns, in the order they come:
    token features, then layer features (as the engine's CLI names them)."""
    parts = [FEATURE_NAME] if tokens else []
    if feature_set is not None:
        parts.append(layer_feature_name(feature_set.layers))
    return "+".join(parts)


def proxy_input_labels(*, tokens: bool, feature_set: ModelFeatureSet | None) -> list[str]:
    """What a proxy reads, in words, for the job page."""
    labels = ["sentence embedding"]
    if tokens:
        labels.append("model token embeddings")
    if feature_set is not None:
        labels.append(f"model hidden state after layer {feature_set.layers}")
    return labels


def extra_features_of(
    *, name: str, feature_set: ModelFeatureSet | None
) -> tuple[bool, ModelFeatureSet | None]:
    """(token features?, layer-feature set or None) of a proxy trained with extra columns
    ``name`` for a job whose layer-feature set is ``feature_set``. The proxy decides, not
    today's settings: it was trained so."""
    for tokens in (True, False):
        for candidate in (feature_set, None):
            if extra_feature_name(tokens=tokens, feature_set=candidate) == name:
                return tokens, candidate
    raise ValueError(f"the proxy reads extra features {name!r}, which this job cannot compute")
