"""The whole pipeline, run inline (CELERY_TASK_ALWAYS_EAGER) with a tiny model."""

import pytest
from django.core import mail

from marketplace.models import Sample
from valuation import worker_cache
from valuation.models import ExactLabel, SampleScore, ValuationChunk, ValuationJob
from valuation.services import valuation_job_request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def request(task, versions, buyer, **overrides):
    options = {
        "model_spec": "local", "method": "alinfik", "label_fraction": 0.25, "seed": 7,
    }
    options.update(overrides)
    return valuation_job_request(task=task, versions=versions, requested_by=buyer, **options)


def test_alinfik_job_values_every_pool_sample(
    valuation_settings, pool, target_task, buyer, eager_on_commit
):
    job = request(target_task, pool, buyer)

    job.refresh_from_db()
    assert job.status == ValuationJob.Status.SUCCEEDED, job.error
    assert job.pool_size == 68  # 38 non-duplicate + 30
    assert job.n_labelled == 18  # round half up: 0.25 * 38 = 9.5 -> 10, 0.25 * 30 = 7.5 -> 8
    assert job.n_labels_cached == 0
    stages = dict(
        ValuationChunk.objects.filter(job=job).values_list("stage").annotate(
            n=__import__("django.db.models", fromlist=["Count"]).Count("id")
        )
    )
    assert stages == {
        "plan": 1, "embed": 3, "target": 1, "exact": 3, "train": 1, "proxy": 4, "finalise": 1,
    }
    assert (job.progress_done, job.progress_total) == (14, 14)
    scores = SampleScore.objects.filter(job=job)
    assert scores.count() == 68
    assert scores.filter(is_exact=True).count() == 18
    assert not scores.filter(sample__duplicate_of__isnull=False).exists()
    assert ExactLabel.objects.count() == 18
    assert Sample.objects.filter(embedding__isnull=True, duplicate_of__isnull=True).count() == 0
    assert set(job.fidelity) >= {"spearman", "kendall_tau", "precision_at_10pct", "n_holdout"}
    listings = {row["listing_title"]: row for row in job.summary["listings"]}
    assert listings["News"]["valued"] == 38 and listings["News"]["duplicates"] == 2
    assert listings["Code"]["valued"] == 30 and listings["Code"]["duplicates"] == 0
    for row in listings.values():
        assert row["positive"] + row["negative"] + row["zero"] == row["valued"]
        assert sum(row["histogram"]) == row["valued"]
    assert set(job.timings) >= {"plan", "embed", "target", "exact", "train", "proxy", "finalise"}
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["bea@example.com"]
    assert "is ready" in mail.outbox[0].subject
    assert f"/valuation/jobs/{job.pk}/" in mail.outbox[0].body
    assert worker_cache.stats["model_loads"] == 1
    assert worker_cache.stats["encoder_loads"] == 1
