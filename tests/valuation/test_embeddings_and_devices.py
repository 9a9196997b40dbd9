"""Ingest-time embeddings (computed once, only the missing ones) and per-worker devices."""

import numpy as np
import pytest
import torch

from marketplace.models import Sample
from valuation import worker_cache
from valuation.engine.models import ModelLoadError
from valuation.services import version_embeddings_request
from valuation.services.embeddings import embeddings_from_bytes, version_embeddings_compute


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_version_embeddings_are_computed_once_in_chunks(valuation_settings, make_version):
    version = make_version("News", n=40, seed=1, duplicates=2)
    version_embeddings_request(version=version)  # eager: the gpu task runs inline

    stored = Sample.objects.filter(version=version, embedding__isnull=False)
    assert stored.count() == 38  # duplicates are never valued, so never embedded
    matrix = embeddings_from_bytes([row.embedding for row in stored.order_by("id")])
    assert matrix.shape == (38, 384) and matrix.dtype == np.float32
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    before = dict(stored.values_list("id", "embedding"))

    assert version_embeddings_compute(version_id=version.pk) == 0
    cleared = list(before)[:5]
    Sample.objects.filter(pk__in=cleared).update(embedding=None)
    assert version_embeddings_compute(version_id=version.pk) == 5
    after = dict(stored.values_list("id", "embedding"))
    assert after.keys() == before.keys()
    # Rows that were not recomputed were not rewritten: the same bytes read back.
    untouched = [pk for pk in before if pk not in cleared]
    assert {pk: bytes(after[pk]) for pk in untouched} == {pk: bytes(before[pk]) for pk in untouched}
    # Recomputed rows come from a batch of another shape, which float32 kernels do not promise
    # to reproduce bit for bit: they agree to 1e-5 per coordinate (unit vectors of 384 floats).
    recomputed = embeddings_from_bytes([after[pk] for pk in cleared])
    original = embeddings_from_bytes([before[pk] for pk in cleared])
    np.testing.assert_allclose(recomputed, original, rtol=0, atol=1e-5)


def test_worker_device_follows_valuation_device(settings):
    settings.VALUATION_DEVICE = "cpu"
    assert worker_cache.worker_device() == "cpu"
    settings.VALUATION_DEVICE = "auto"
    assert worker_cache.worker_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        settings.VALUATION_DEVICE = "cuda"
        with pytest.raises(ModelLoadError, match="CUDA is not available"):
            worker_cache.worker_device()


@pytest.mark.django_db
def test_sample_id_pages_walk_a_range_in_id_order(make_version):
    from valuation.selectors import pool_samples, sample_id_pages

    version = make_version("Paged", n=10, seed=6, duplicates=1)
    ids = list(pool_samples(version_ids=[version.pk]).order_by("id").values_list("id", flat=True))
    assert len(ids) == 9  # the duplicate is not in the pool
    queryset = pool_samples(version_ids=[version.pk])
    assert list(sample_id_pages(queryset, page_size=4)) == [ids[:4], ids[4:8], ids[8:]]
    pages = list(sample_id_pages(queryset, page_size=3, id_min=ids[2], id_max=ids[6]))
    assert pages == [ids[2:5], ids[5:7]]
    assert list(sample_id_pages(queryset.none(), page_size=3)) == []
