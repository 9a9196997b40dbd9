"""The service's proxy also reads the scored model's layer features (engine
layer_features.py), stored once per (sample, model, layers, max_length) and reused by every
later valuation on that model."""

import numpy as np
import pytest
from transformers import AutoTokenizer, GPT2LMHeadModel

from core.artefacts import artefact_local_path
from marketplace.models import Sample
from valuation import worker_cache
from valuation.engine.data import pad_token_id, tokenize_sample
from valuation.engine.layer_features import hidden_state_features, layer_feature_name
from valuation.engine.proxy import LinFiKProxy
from valuation.engine.token_features import FEATURE_NAME, token_embedding_features
from valuation.errors import ValuationRequestInvalid
from valuation.models import (
    ModelFeatureSet,
    SampleModelFeature,
    SampleScore,
    ValuationChunk,
    ValuationJob,
)
from valuation.selectors import pool_samples
from valuation.services import (
    model_features,
    pipeline,
    valuation_job_request,
    version_embeddings_request,
)
from valuation.services.embeddings import embeddings_from_bytes

TINY_DIM = 16  # n_embd of the conftest's tiny GPT-2 (one layer)
MAX_LENGTH = 32  # TINY_SETTINGS


def request(task, versions, buyer, seed=7):
    return valuation_job_request(
        task=task,
        versions=versions,
        requested_by=buyer,
        model_spec="local",
        method="alinfik",
        label_fraction=0.25,
        seed=seed,
    )


def engine_layer_rows(directory, samples):
    """Layer features of ``samples`` computed here, from the model files, one at a time."""
    model = GPT2LMHeadModel.from_pretrained(directory).eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    rows = []
    for sample in samples:
        tokenized = tokenize_sample(model_features.engine_sample(sample), tokenizer, MAX_LENGTH)
        rows.append(
            hidden_state_features(model, [tokenized], pad_id=pad_token_id(tokenizer), layers=1)[0]
        )
    return np.array(rows), model, tokenizer


def stored_rows(feature_set, samples):
    blobs = dict(
        SampleModelFeature.objects.filter(feature_set=feature_set).values_list(
            "sample_id", "vector"
        )
    )
    return embeddings_from_bytes([bytes(blobs[sample.pk]) for sample in samples])


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_job_stores_layer_features_once_and_the_proxy_reads_them(
    valuation_settings, pool, target_task, buyer, tiny_model_dir, eager_on_commit
):
    worker_cache.clear()
    job = request(target_task, pool, buyer)
    job.refresh_from_db()
    assert job.status == ValuationJob.Status.SUCCEEDED, job.error

    # The setting asks for 4 layers; the tiny model has 1, so 1 is what runs and is named.
    feature_set = job.layer_features
    assert (feature_set.layers, feature_set.dim, feature_set.max_length) == (1, TINY_DIM, 32)
    assert feature_set.model_identity == job.model_identity
    pool_ids = set(pool_samples(version_ids=[v.pk for v in pool]).values_list("id", flat=True))
    rows = SampleModelFeature.objects.filter(feature_set=feature_set)
    assert set(rows.values_list("sample_id", flat=True)) == pool_ids  # duplicates not valued
    assert len(pool_ids) == 68

    samples = list(Sample.objects.filter(id__in=sorted(pool_ids)[::9]).order_by("id"))
    expected_rows, model, tokenizer = engine_layer_rows(tiny_model_dir, samples)
    np.testing.assert_allclose(
        stored_rows(feature_set, samples), expected_rows, rtol=1e-5, atol=1e-6
    )

    # The proxy reads token features, then layer features, and its stored scores are what
    # it predicts from inputs recomputed here from the model files.
    proxy = LinFiKProxy.load(artefact_local_path(name=pipeline.proxy_name(job_id=job.pk))[0])
    assert proxy.metadata.extra_features == f"{FEATURE_NAME}+{layer_feature_name(1)}"
    assert proxy.metadata.head.extra_dim == (TINY_DIM + 1) + TINY_DIM
    scored = dict(
        SampleScore.objects.filter(job=job, is_exact=False).values_list("sample_id", "score")
    )
    proxied = [sample for sample in samples if sample.pk in scored]
    assert len(proxied) >= 4
    tokenized = [
        tokenize_sample(model_features.engine_sample(s), tokenizer, MAX_LENGTH) for s in proxied
    ]
    tokens = token_embedding_features(tokenized, model.get_input_embeddings().weight)
    layers, _, _ = engine_layer_rows(tiny_model_dir, proxied)
    embeddings = embeddings_from_bytes([bytes(sample.embedding) for sample in proxied])
    predicted = proxy.predict(embeddings, extra_features=np.hstack([tokens, layers]))
    np.testing.assert_allclose([scored[s.pk] for s in proxied], predicted, rtol=1e-5, atol=1e-8)
    # The layer columns matter: zeroing them changes the scores.
    zeroed = proxy.predict(embeddings, extra_features=np.hstack([tokens, 0 * layers]))
    assert not np.allclose(predicted, zeroed)

    # A second valuation on the same model reuses every row: no embed step, no new row,
    # no model load (its labels are cached too).
    before = {row.pk: bytes(row.vector) for row in rows}
    worker_cache.clear()
    second = request(target_task, pool, buyer)
    second.refresh_from_db()
    assert second.status == ValuationJob.Status.SUCCEEDED, second.error
    assert second.layer_features_id == feature_set.pk
    assert not ValuationChunk.objects.filter(job=second, stage="embed").exists()
    assert {row.pk: bytes(row.vector) for row in rows} == before
    assert worker_cache.stats["model_loads"] == 0
    assert ModelFeatureSet.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_rows_missing_at_plan_time_get_embed_steps(
    valuation_settings, pool, target_task, buyer, eager_on_commit
):
    """Samples that have their embedding but lack layer features are still planned."""
    first = request(target_task, pool, buyer)
    first.refresh_from_db()
    assert first.status == ValuationJob.Status.SUCCEEDED, first.error
    gone = list(
        SampleModelFeature.objects.filter(feature_set=first.layer_features)
        .order_by("sample_id")
        .values_list("sample_id", flat=True)[:5]
    )
    SampleModelFeature.objects.filter(sample_id__in=gone).delete()

    second = request(target_task, pool, buyer, seed=8)
    second.refresh_from_db()
    assert second.status == ValuationJob.Status.SUCCEEDED, second.error
    embed_steps = ValuationChunk.objects.filter(job=second, stage="embed")
    assert sum(step.size for step in embed_steps) == 5
    restored = SampleModelFeature.objects.filter(feature_set=first.layer_features)
    assert restored.filter(sample_id__in=gone).count() == 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_ingest_computes_the_rows_of_feature_sets_in_use(
    valuation_settings, settings, make_version, tiny_model_dir
):
    settings.VALUATION_MODELS = {}  # only the local tiny model is offered
    first = make_version("Early", n=12, seed=3)
    version_embeddings_request(version=first)  # eager: the gpu task runs inline
    assert Sample.objects.filter(version=first, embedding__isnull=True).count() == 0
    assert not SampleModelFeature.objects.exists()  # no valuation used a model yet
    assert worker_cache.stats["model_loads"] == 0

    feature_set = model_features.layer_feature_set_get_or_create(
        model_spec="local", identity=worker_cache.model_identity("local")
    )
    later = make_version("Late", n=10, seed=4, duplicates=1)
    version_embeddings_request(version=later)
    rows = SampleModelFeature.objects.filter(feature_set=feature_set)
    later_ids = set(pool_samples(version_ids=[later.pk]).values_list("id", flat=True))
    assert set(rows.values_list("sample_id", flat=True)) == later_ids  # 9: no duplicate
    assert len(later_ids) == 9
    samples = list(Sample.objects.filter(id__in=later_ids).order_by("id"))
    expected, _, _ = engine_layer_rows(tiny_model_dir, samples)
    np.testing.assert_allclose(stored_rows(feature_set, samples), expected, rtol=1e-5, atol=1e-6)

    settings.VALUATION_PROXY_LAYERS = 0  # off: ingest computes none
    off = make_version("Off", n=5, seed=5)
    version_embeddings_request(version=off)
    assert not SampleModelFeature.objects.filter(sample__version=off).exists()


@pytest.mark.django_db
def test_missing_rows_are_computed_on_read_and_a_changed_model_is_refused(
    valuation_settings, pool, tiny_model_dir
):
    worker_cache.clear()
    identity = worker_cache.model_identity("local")
    feature_set = model_features.layer_feature_set_get_or_create(
        model_spec="local", identity=identity
    )
    samples = list(Sample.objects.filter(version=pool[1]).order_by("id")[:6])
    ids = [sample.pk for sample in reversed(samples)]  # any order, returned in that order
    got = model_features.layer_features_read(
        feature_set=feature_set, model_spec="local", sample_ids=ids
    )
    expected, _, _ = engine_layer_rows(tiny_model_dir, list(reversed(samples)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert SampleModelFeature.objects.filter(feature_set=feature_set).count() == 6

    stale = ModelFeatureSet.objects.create(
        model_identity="sha256:" + "0" * 64, layers=1, max_length=MAX_LENGTH, dim=TINY_DIM
    )
    with pytest.raises(ValuationRequestInvalid, match="changed after this job was planned"):
        model_features.samples_layer_features_missing(
            feature_set=stale, model_spec="local", sample_ids=ids
        )
    assert not SampleModelFeature.objects.filter(feature_set=stale).exists()


@pytest.mark.django_db
def test_sample_without_predicted_token_gets_a_zero_row(valuation_settings, make_version):
    version = make_version("Pairs", n=3, pairs_every=0)
    empty = Sample.objects.create(
        version=version,
        position=3,
        source_line=4,
        external_id="long-prompt",
        prompt=" ".join(["question"] * 40),
        response="answer yes",
        token_count=43,
        norm_hash="long-prompt",
    )
    identity = worker_cache.model_identity("local")
    feature_set = model_features.layer_feature_set_get_or_create(
        model_spec="local", identity=identity
    )
    ids = list(Sample.objects.filter(version=version).order_by("id").values_list("id", flat=True))
    got = model_features.layer_features_read(
        feature_set=feature_set, model_spec="local", sample_ids=ids
    )
    assert got.shape == (4, TINY_DIM)
    assert not got[ids.index(empty.pk)].any()
    assert np.count_nonzero(np.abs(got).sum(axis=1)) == 3


def test_extra_feature_names_round_trip():
    feature_set = ModelFeatureSet(model_identity="m", layers=4, max_length=256, dim=576)
    for tokens in (True, False):
        for chosen in (feature_set, None):
            name = model_features.extra_feature_name(tokens=tokens, feature_set=chosen)
            assert model_features.extra_features_of(name=name, feature_set=feature_set) == (
                tokens,
                chosen,
            )
    assert model_features.extra_feature_name(tokens=False, feature_set=None) == ""
    with pytest.raises(ValueError, match="llm-hidden-after-layer-2"):
        model_features.extra_features_of(
            name=f"{FEATURE_NAME}+{layer_feature_name(2)}", feature_set=feature_set
        )


@pytest.mark.django_db
def test_admin_lists_feature_sets_with_their_row_counts(client, make_user, make_version):
    version = make_version("Rows", n=3)
    feature_set = ModelFeatureSet.objects.create(
        model_identity="sha256:abc", layers=4, max_length=256, dim=2
    )
    SampleModelFeature.objects.bulk_create(
        SampleModelFeature(feature_set=feature_set, sample=sample, vector=b"\0" * 8)
        for sample in Sample.objects.filter(version=version)
    )
    client.force_login(make_user("root", staff=True))
    html = client.get("/admin/valuation/modelfeatureset/").content.decode()
    assert '<td class="field-samples">3</td>' in html
    assert "sha256:abc" in html
