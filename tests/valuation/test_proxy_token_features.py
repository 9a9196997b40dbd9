"""The service's proxy reads the scored model's token features (engine token_features.py),
stored once per model identity by the step that has the model loaded. Layer features are
off here (test_proxy_layer_features.py covers them with the token features)."""

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, GPT2LMHeadModel

from core.artefacts import artefact_delete_prefix, artefact_exists, artefact_local_path
from marketplace.models import Sample
from valuation import worker_cache
from valuation.engine.data import EmptySampleError, tokenize_sample
from valuation.engine.data import Sample as EngineSample
from valuation.engine.proxy import LinFiKProxy
from valuation.engine.token_features import FEATURE_NAME, token_embedding_features
from valuation.models import SampleModelFeature, SampleScore, ValuationJob
from valuation.services import model_features, pipeline, valuation_job_request
from valuation.services.embeddings import embeddings_from_bytes

TINY_DIM = 16  # n_embd of the conftest's tiny GPT-2


@pytest.fixture(autouse=True)
def _no_layer_features(settings):
    settings.VALUATION_PROXY_LAYERS = 0


def request(task, versions, buyer):
    return valuation_job_request(
        task=task,
        versions=versions,
        requested_by=buyer,
        model_spec="local",
        method="alinfik",
        label_fraction=0.25,
        seed=7,
    )


def tiny_model(directory):
    return GPT2LMHeadModel.from_pretrained(directory), AutoTokenizer.from_pretrained(directory)


def independent_predictions(job, directory, n=6):
    """Proxy scores of a few proxy-scored samples, recomputed here from the model itself."""
    proxy = LinFiKProxy.load(artefact_local_path(name=pipeline.proxy_name(job_id=job.pk))[0])
    scored = dict(
        SampleScore.objects.filter(job=job, is_exact=False).values_list("sample_id", "score")
    )
    samples = list(Sample.objects.filter(id__in=list(scored)).order_by("id")[:n])
    embeddings = embeddings_from_bytes([bytes(sample.embedding) for sample in samples])
    expected_scores = np.array([scored[sample.pk] for sample in samples])
    return proxy, samples, embeddings, expected_scores


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_proxy_reads_token_features_from_the_stored_table(
    valuation_settings, pool, target_task, buyer, tiny_model_dir, eager_on_commit
):
    worker_cache.clear()
    job = request(target_task, pool, buyer)
    job.refresh_from_db()
    assert job.status == ValuationJob.Status.SUCCEEDED, job.error
    assert worker_cache.stats["model_loads"] == 1  # the proxy steps never loaded the model
    assert worker_cache.stats["token_source_exports"] == 1
    assert artefact_exists(name=worker_cache.token_table_name(job.model_identity))
    assert artefact_exists(name=worker_cache.tokenizer_name(job.model_identity))

    proxy, samples, embeddings, stored = independent_predictions(job, tiny_model_dir)
    assert proxy.metadata.head.extra_dim == TINY_DIM + 1
    assert proxy.metadata.extra_features == FEATURE_NAME
    model, tokenizer = tiny_model(tiny_model_dir)
    tokenized = [
        tokenize_sample(model_features.engine_sample(sample), tokenizer, 32) for sample in samples
    ]
    features = token_embedding_features(tokenized, model.get_input_embeddings().weight)
    expected = proxy.predict(embeddings, extra_features=features)
    np.testing.assert_allclose(stored, expected, rtol=1e-6, atol=1e-9)
    # The features matter: without them (zeros) the same head scores differently.
    assert not np.allclose(stored, proxy.predict(embeddings, extra_features=0 * features))

    # Table gone (e.g. labels cached before it existed): the next job, whose labels are all
    # cached, loads the model in its proxy step once, stores the table again, same scores.
    artefact_delete_prefix(prefix=worker_cache.token_source_prefix(job.model_identity))
    assert not worker_cache.token_source_ready(job.model_identity)
    worker_cache.clear()
    second = request(target_task, pool, buyer)
    second.refresh_from_db()
    assert second.status == ValuationJob.Status.SUCCEEDED, second.error
    assert second.n_labels_cached == second.n_labelled
    assert worker_cache.stats["model_loads"] == 1
    assert worker_cache.token_source_ready(job.model_identity)
    first_scores = dict(SampleScore.objects.filter(job=job).values_list("sample_id", "score"))
    second_scores = dict(SampleScore.objects.filter(job=second).values_list("sample_id", "score"))
    assert second_scores == first_scores


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_setting_off_gives_the_embedding_only_proxy(
    valuation_settings, pool, target_task, buyer, tiny_model_dir, settings, eager_on_commit
):
    settings.VALUATION_PROXY_TOKEN_FEATURES = False
    worker_cache.clear()
    job = request(target_task, pool, buyer)
    job.refresh_from_db()
    assert job.status == ValuationJob.Status.SUCCEEDED, job.error
    proxy, _samples, embeddings, stored = independent_predictions(job, tiny_model_dir)
    assert proxy.metadata.head.extra_dim == 0
    assert proxy.metadata.extra_features == ""
    assert job.layer_features is None
    assert not SampleModelFeature.objects.exists()
    np.testing.assert_allclose(stored, proxy.predict(embeddings), rtol=1e-6, atol=1e-9)
    assert not artefact_exists(name=worker_cache.token_table_name(job.model_identity))
    assert worker_cache.stats["token_source_exports"] == 0


def test_sample_without_predicted_token_gets_a_zero_row(tiny_model_dir):
    model, tokenizer = tiny_model(tiny_model_dir)
    table = model.get_input_embeddings().weight.detach()
    source = worker_cache.TokenSource("tiny", tokenizer, table)
    samples = [
        EngineSample(id="a", text="the cat sat on the mat"),
        EngineSample(id="empty", prompt=" ".join(["question"] * 40), response="answer yes"),
        EngineSample(id="b", prompt="what is it", response="a big red dog"),
    ]
    with pytest.raises(EmptySampleError):
        tokenize_sample(samples[1], tokenizer, 32)
    features = model_features.sample_token_features(samples, source, 32)
    assert features.shape == (3, TINY_DIM + 1)
    assert not features[1].any()
    kept = [tokenize_sample(samples[i], tokenizer, 32) for i in (0, 2)]
    with torch.no_grad():
        expected = token_embedding_features(kept, table)
    np.testing.assert_array_equal(features[[0, 2]], expected)
    assert features[2, -1] == pytest.approx(np.log(4))  # "a big red dog": 4 response tokens
