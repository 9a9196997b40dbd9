"""A valuation's results page (first and deep pages), its scores API and the job list run a
fixed number of queries however many samples were scored and however many listings they
come from (no query per row or per listing)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace.models import Sample
from valuation.models import SampleScore, ValuationJob
from valuation.services import valuation_job_request
from valuation.services.scores import job_summary_compute, job_summary_save

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.valuation.urls")]


def finished(versions, target_task, buyer, capture) -> ValuationJob:
    """A succeeded job over ``versions`` whose scores are written directly."""
    with capture(execute=False):
        job = valuation_job_request(
            task=target_task,
            versions=versions,
            model_spec="local",
            method="alinfik",
            label_fraction=0.5,
            seed=1,
            requested_by=buyer,
        )
    rows = [
        # Scores shuffle the listings' samples together, so every page mixes both listings.
        SampleScore(
            job=job,
            sample=sample,
            version=sample.version,
            score=(i * 37 % 211) / 100,
            is_exact=i % 3 == 0,
        )
        for i, sample in enumerate(
            Sample.objects.filter(version__in=versions).select_related("version").order_by("id")
        )
    ]
    SampleScore.objects.bulk_create(rows)
    job_summary_save(
        job=job, summary=job_summary_compute(job=job, version_ids=[v.pk for v in versions])
    )
    ValuationJob.objects.filter(pk=job.pk).update(
        status=ValuationJob.Status.SUCCEEDED, pool_size=len(rows), summary=job.summary
    )
    job.refresh_from_db()
    return job


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


def test_results_scores_and_job_list_queries_do_not_grow_with_the_pool(
    client,
    valuation_settings,
    make_version,
    target_task,
    buyer,
    django_capture_on_commit_callbacks,
):
    client.force_login(buyer)
    small = finished(
        [make_version("Small", n=12, seed=1)],
        target_task,
        buyer,
        django_capture_on_commit_callbacks,
    )
    one_job = queries_for(client, "/valuation/jobs/")
    large = finished(
        [
            make_version("Large", n=160, seed=2, preview_ids=("s1", "s2")),
            make_version("Other", n=40, seed=3),
            make_version("Third", n=30, seed=5),
            make_version("Fourth", n=30, seed=6, duplicates=3),
        ],
        target_task,
        buyer,
        django_capture_on_commit_callbacks,
    )
    assert queries_for(client, "/valuation/jobs/") == one_job
    for path in ("/valuation/jobs/{}/results/", "/api/valuation/jobs/{}/scores/"):
        first = queries_for(client, path.format(small.pk))
        assert queries_for(client, path.format(large.pk)) == first, path
        # A deep page costs what the first one does.
        assert queries_for(client, path.format(large.pk) + "?page=4") == first, path


@pytest.mark.parametrize("mark_step", [10_000, 50, 7])
def test_ranked_pages_equal_one_ordered_query_with_ties_and_a_listing_filter(
    valuation_settings,
    make_version,
    target_task,
    buyer,
    django_capture_on_commit_callbacks,
    monkeypatch,
    mark_step,
):
    """Whatever the rank marks (none below 10,000 scores; here also every 50th and every
    7th rank, so pages start after a mark that falls inside a run of equal scores)."""
    from django.core.paginator import Paginator

    from valuation.selectors import job_ranked_scores

    monkeypatch.setattr("valuation.services.scores.RANK_MARK_STEP", mark_step)
    versions = [make_version("Ties", n=240, seed=7), make_version("More", n=30, seed=8)]
    job = finished(versions, target_task, buyer, django_capture_on_commit_callbacks)
    assert len(job.summary["rank_marks"]["keys"]) == 270 // mark_step
    ranked = job_ranked_scores(job=job)
    everything = list(
        SampleScore.objects.filter(job=job)
        .order_by("-score", "sample_id")
        .values_list("sample_id", flat=True)
    )
    for start, stop in ((0, 7), (6, 8), (13, 29), (49, 101), (200, 270), (266, 400)):
        assert [row.sample_id for row in ranked[start:stop]] == everything[start:stop]
    for listing_id in (None, versions[1].listing_id):
        plain = SampleScore.objects.filter(job=job).order_by("-score", "sample_id")
        if listing_id is not None:
            plain = plain.filter(version__listing_id=listing_id)
        expected = list(plain.values_list("pk", flat=True))
        paginator = Paginator(job_ranked_scores(job=job, listing_id=listing_id), 50)
        paged = [s.pk for n in paginator.page_range for s in paginator.page(n).object_list]
        assert paginator.count == len(expected)
        assert paged == expected
