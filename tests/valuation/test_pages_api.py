"""Buyer pages and the REST API of valuations (no model work: jobs are queued, not run, or
their scores are written directly)."""

import importlib
import json
import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from marketplace.models import Sample
from marketplace.selectors import listing_preview_samples
from marketplace.services.access import access_grant_many
from valuation.models import ListingSummary, SampleScore, ValuationChunk, ValuationJob
from valuation.services import valuation_job_request
from valuation.services.scores import job_summary_compute, job_summary_save

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.valuation.urls")]

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def queued_job(valuation_settings, pool, target_task, buyer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        return valuation_job_request(
            task=target_task,
            versions=pool,
            model_spec="local",
            method="alinfik",
            label_fraction=0.25,
            seed=1,
            requested_by=buyer,
        )


@pytest.fixture
def finished_job(queued_job):
    """A succeeded job whose scores are written directly: sample i of each version gets
    (i - 10) / 100, so exactly 10 negatives, one zero and the rest positive per version."""
    job = queued_job
    rows = []
    for version in job.versions.all():
        samples = Sample.objects.filter(version=version, duplicate_of__isnull=True)
        for i, sample in enumerate(samples.order_by("id")):
            rows.append(
                SampleScore(
                    job=job,
                    sample=sample,
                    version=version,
                    score=(i - 10) / 100,
                    is_exact=i % 4 == 0,
                )
            )
    SampleScore.objects.bulk_create(rows)
    version_ids = sorted(job.versions.values_list("id", flat=True))
    job_summary_save(job=job, summary=job_summary_compute(job=job, version_ids=version_ids))
    ValuationJob.objects.filter(pk=job.pk).update(
        status=ValuationJob.Status.SUCCEEDED,
        pool_size=len(rows),
        n_labelled=18,
        summary=job.summary,
    )
    job.refresh_from_db()
    return job


def login(client, user):
    client.force_login(user)
    return client


def test_request_page_queues_a_job_and_redirects_to_its_progress(
    client, valuation_settings, pool, target_task, buyer, django_capture_on_commit_callbacks
):
    login(client, buyer)
    url = reverse("valuation:job_request", args=[target_task.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert b"News (v1, 40 samples)" in page.content and b"Code (v1, 30 samples)" in page.content

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            url,
            {
                "listings": [pool[0].listing_id, pool[1].listing_id],
                "model_spec": "local",
                "method": "alinfik",
                "label_fraction": "0.25",
                "seed": "4",
            },
        )
    job = ValuationJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("valuation:job_detail", args=[job.pk])
    assert len(callbacks) == 1  # the job_run task, sent after commit
    assert (job.buyer, job.task, job.seed, job.label_fraction) == (buyer, target_task, 4, 0.25)
    assert sorted(job.versions.values_list("id", flat=True)) == sorted(v.pk for v in pool)
    assert job.status == ValuationJob.Status.QUEUED


def test_request_page_shows_service_error_and_creates_nothing(
    client, valuation_settings, pool, target_task, buyer
):
    login(client, buyer)
    response = client.post(
        reverse("valuation:job_request", args=[target_task.pk]),
        {
            "listings": [pool[1].listing_id],
            "model_spec": "local",
            "method": "alinfik",
            "label_fraction": "0.05",
            "seed": "0",
        },
    )
    assert response.status_code == 200
    assert (
        "ALinFiK needs at least 6 exact labels, but a label fraction of 0.05 on 30 samples "
        "gives 2; raise the label fraction or add datasets."
    ) in response.content.decode()
    assert not ValuationJob.objects.exists()


def test_request_page_is_for_the_tasks_buyer_only(
    client, valuation_settings, pool, target_task, make_user, provider
):
    other = make_user("otto", roles=("buyer",))
    assert (
        login(client, other)
        .get(reverse("valuation:job_request", args=[target_task.pk]))
        .status_code
        == 404
    )
    assert (
        login(client, provider)
        .get(reverse("valuation:job_request", args=[target_task.pk]))
        .status_code
        == 403
    )
    assert not ValuationJob.objects.exists()


def test_detail_page_shows_progress_and_polls_the_api(client, queued_job, buyer, make_user):
    ValuationChunk.objects.filter(job=queued_job).update(status="done", seconds=0.1)  # plan
    ValuationChunk.objects.bulk_create(
        [ValuationChunk(job=queued_job, stage="exact", index=i, size=8) for i in range(4)]
    )
    ValuationChunk.objects.filter(job=queued_job, stage="exact", index=0).update(
        status="done", seconds=2.0
    )
    ValuationJob.objects.filter(pk=queued_job.pk).update(
        status="running",
        stage="exact",
        progress_done=1,
        progress_total=4,
        pool_size=68,
        started_at=queued_job.created_at,
    )
    page = login(client, buyer).get(reverse("valuation:job_detail", args=[queued_job.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Exact LinFiK labels" in html
    assert '<span data-field="done">1</span> / <span data-field="total">4</span>' in html
    # 3 steps left x 2 s, the only finished model step (the plan step's 0.1 s does not count)
    assert "about 6 s left" in html
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    assert f'data-api-url="/api/valuation/jobs/{queued_job.pk}/"' in html
    assert '<script src="/static/js/job_detail.js"></script>' in html
    assert "setTimeout(poll, 2000)" in (REPO_ROOT / "static/js/job_detail.js").read_text()
    assert f'action="/valuation/jobs/{queued_job.pk}/cancel/"' in html

    other = make_user("otto", roles=("buyer",))
    assert (
        login(client, other).get(reverse("valuation:job_detail", args=[queued_job.pk])).status_code
        == 404
    )


def test_cancel_and_retry_buttons(client, queued_job, buyer):
    login(client, buyer)
    response = client.post(reverse("valuation:job_cancel", args=[queued_job.pk]))
    assert response.status_code == 302
    queued_job.refresh_from_db()
    assert queued_job.status == ValuationJob.Status.CANCELLED
    page = client.get(reverse("valuation:job_detail", args=[queued_job.pk])).content.decode()
    assert "Retry from where it stopped" in page and "http-equiv" not in page
    response = client.post(reverse("valuation:job_cancel", args=[queued_job.pk]), follow=True)
    assert "This valuation is already cancelled; there is nothing to cancel." in (
        response.content.decode()
    )


def test_results_page_per_listing_counts_histogram_and_ranked_table(
    client, finished_job, buyer, pool
):
    page = login(client, buyer).get(reverse("valuation:job_results", args=[finished_job.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    news, code = (
        ListingSummary.objects.get(job=finished_job, listing__title=name)
        for name in ("News", "Code")
    )
    # News: 38 valued -> scores -0.10..0.27: 10 negative, 1 zero, 27 positive; 2 duplicates.
    assert (news.negative, news.zero, news.positive, news.duplicates) == (10, 1, 27, 2)
    assert (code.negative, code.zero, code.positive, code.duplicates) == (10, 1, 19, 0)
    assert sum(news.histogram) == news.valued == 38 and sum(code.histogram) == code.valued == 30
    # The whole pool's figures, then the listings, most valuable first.
    totals = {key: finished_job.summary[key] for key in ("n_scored", "positive", "negative")}
    assert totals == {"n_scored": 68, "positive": 46, "negative": 20}
    assert '<p class="stat-value" data-total="positive">46</p>' in html
    assert '<p class="stat-value" data-total="listings">2</p>' in html
    assert '<td class="num" data-count="positive">27</td>' in html
    assert '<td class="num" data-count="duplicates">2</td>' in html
    assert html.index(f'data-listing="{news.listing_id}"') < html.index(
        f'data-listing="{code.listing_id}"'
    )
    assert news.positive_value > code.positive_value
    assert "vendor/chartjs/chart.umd.min.js" in html
    chart = json.loads(
        html.split('id="histogram-data" type="application/json">')[1].split("</script>")[0]
    )
    assert [d["label"] for d in chart["datasets"]] == ["News", "Code"]
    assert [sum(d["data"]) for d in chart["datasets"]] == [38, 30]
    assert "data-chart-fallback" in html  # the table, shown without JS
    # Ranked: the top sample is News' last one (0.27).
    assert html.index(">0.27<") < html.index(">0.19<")
    # Text only for the marketplace's preview samples (random previews: 5 per listing).
    previews = {s.pk for v in pool for s in listing_preview_samples(listing=v.listing)}
    top = SampleScore.objects.filter(job=finished_job).order_by("-score", "sample_id")[:50]
    shown = [row.sample_id for row in top if row.sample_id in previews]
    assert len(previews) == 10
    assert html.count('data-access="preview"') == len(shown) > 0
    assert html.count("no preview") == 50 - len(shown)


def test_results_show_snippets_only_for_samples_the_provider_lets_preview(
    client,
    valuation_settings,
    make_version,
    target_task,
    buyer,
    django_capture_on_commit_callbacks,
):
    version = make_version("Open", n=20, seed=9, pairs_every=0, preview_ids=("s19",))
    with django_capture_on_commit_callbacks(execute=False):
        job = valuation_job_request(
            task=target_task,
            versions=[version],
            model_spec="local",
            method="alinfik",
            label_fraction=0.5,
            seed=0,
            requested_by=buyer,
        )
    samples = list(Sample.objects.filter(version=version).order_by("position"))
    SampleScore.objects.bulk_create(
        SampleScore(job=job, sample=s, version=version, score=float(i))
        for i, s in enumerate(samples)
    )
    job_summary_save(job=job, summary=job_summary_compute(job=job, version_ids=[version.pk]))
    ValuationJob.objects.filter(pk=job.pk).update(status="succeeded", summary=job.summary)
    html = (
        login(client, buyer).get(reverse("valuation:job_results", args=[job.pk])).content.decode()
    )
    assert html.count('data-access="preview"') == 1
    assert " ".join(samples[19].text.split())[:40] in html
    assert samples[18].text not in html

    # After purchase (a marketplace access grant), the full text of a bought sample is shown.
    bought = samples[18]
    access_grant_many(
        user_id=buyer.pk,
        sample_listing_ids=[(bought.pk, version.listing_id)],
        source="order:1",
        granted_at=timezone.now(),
    )
    html = client.get(reverse("valuation:job_results", args=[job.pk])).content.decode()
    assert f'<span class="small" data-access="full">{bought.text}</span>' in html


def test_api_job_detail_progress_and_visibility(queued_job, buyer, make_user):
    api = APIClient()
    url = f"/api/valuation/jobs/{queued_job.pk}/"
    assert api.get(url).status_code == 401
    api.force_authenticate(make_user("otto", roles=("buyer",)))
    assert api.get(url).status_code == 404
    api.force_authenticate(buyer)
    data = api.get(url).json()
    assert data["status"] == "queued"
    assert data["progress"]["done"] == 0 and data["progress"]["total"] == 1
    assert data["progress"]["stages"] == {"plan": {"done": 0, "total": 1, "samples": 0}}
    assert data["progress"]["eta_seconds"] is None
    assert sorted(data["versions"]) == sorted(queued_job.versions.values_list("id", flat=True))


def test_api_create_cancel_retry(
    valuation_settings, pool, target_task, buyer, provider, django_capture_on_commit_callbacks
):
    api = APIClient()
    api.force_authenticate(provider)
    body = {
        "task": target_task.pk,
        "versions": [v.pk for v in pool],
        "model_spec": "local",
        "label_fraction": 0.25,
    }
    assert api.post("/api/valuation/jobs/", body, format="json").status_code == 403
    api.force_authenticate(buyer)
    bad = api.post("/api/valuation/jobs/", {**body, "model_spec": "gpt-9"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["non_field_errors"] == [
        "Unknown model 'gpt-9'; choose one of smollm2-135m, local."
    ]
    missing = api.post("/api/valuation/jobs/", {**body, "versions": [999999]}, format="json")
    assert missing.json()["error"]["details"]["versions"] == ["Unknown dataset version(s): 999999."]
    assert not ValuationJob.objects.exists()

    with django_capture_on_commit_callbacks(execute=False):
        created = api.post("/api/valuation/jobs/", body, format="json")
    assert created.status_code == 201, created.json()
    job_id = created.json()["id"]
    assert api.post(f"/api/valuation/jobs/{job_id}/retry/").status_code == 409
    cancelled = api.post(f"/api/valuation/jobs/{job_id}/cancel/")
    assert cancelled.json()["status"] == "cancelled"
    again = api.post(f"/api/valuation/jobs/{job_id}/cancel/")
    assert again.status_code == 409
    assert again.json()["error"]["message"] == (
        "This valuation is already cancelled; there is nothing to cancel."
    )
    with django_capture_on_commit_callbacks(execute=False):
        retried = api.post(f"/api/valuation/jobs/{job_id}/retry/")
    assert (retried.json()["status"], retried.json()["round"]) == ("queued", 2)
    listing = api.get("/api/valuation/jobs/").json()
    assert [row["id"] for row in listing["results"]] == [job_id]


def test_api_scores_are_ranked(finished_job, buyer):
    api = APIClient()
    api.force_authenticate(buyer)
    data = api.get(f"/api/valuation/jobs/{finished_job.pk}/scores/?page_size=3").json()
    assert data["count"] == 68
    assert [row["score"] for row in data["results"]] == [0.27, 0.26, 0.25]
    assert [row["rank"] for row in data["results"]] == [1, 2, 3]
    assert "text" not in data["results"][0]


def test_api_listings_most_valuable_first_and_counts_per_listing(finished_job, buyer, make_user):
    api = APIClient()
    api.force_authenticate(buyer)
    data = api.get(f"/api/valuation/jobs/{finished_job.pk}/listings/").json()
    assert data["count"] == 2
    news, code = data["results"]
    # News: positive values 0.01..0.27 sum to 3.78; Code: 0.01..0.19 sum to 1.90.
    assert (news["listing_title"], code["listing_title"]) == ("News", "Code")
    assert news["positive_value"] == pytest.approx(3.78, abs=1e-9)
    assert code["positive_value"] == pytest.approx(1.90, abs=1e-9)
    assert (news["valued"], news["positive"], news["negative"], news["zero"]) == (38, 27, 10, 1)
    assert (news["duplicates"], news["min"], news["max"]) == (2, -0.1, 0.27)
    assert sum(news["histogram"]) == 38
    # The ranked scores of one listing are counted from these figures.
    scores = api.get(
        f"/api/valuation/jobs/{finished_job.pk}/scores/?listing={code['listing_id']}"
    ).json()
    assert (
        scores["count"]
        == 30
        == len(SampleScore.objects.filter(job=finished_job, version__listing_id=code["listing_id"]))
    )
    # Somebody else's job: 404; not finished: 409.
    api.force_authenticate(make_user("other-buyer", roles=("buyer",)))
    assert api.get(f"/api/valuation/jobs/{finished_job.pk}/listings/").status_code == 404
    api.force_authenticate(buyer)
    ValuationJob.objects.filter(pk=finished_job.pk).update(status=ValuationJob.Status.RUNNING)
    response = api.get(f"/api/valuation/jobs/{finished_job.pk}/listings/")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "not_ready")
    scores = api.get(f"/api/valuation/jobs/{finished_job.pk}/scores/")
    assert (scores.status_code, scores.json()) == (
        409,
        {
            "error": {
                "code": "not_ready",
                "details": {},
                "message": "Scores are available once the valuation succeeded.",
            }
        },
    )


def test_listing_value_expression_orders_marketplace_search(finished_job, buyer, pool):
    from marketplace.selectors import listing_search
    from valuation.selectors import latest_succeeded_job, listing_value_expression

    job = latest_succeeded_job(buyer=buyer)
    assert job == finished_job
    expression = listing_value_expression(job=job)
    listings = list(listing_search(sort="value", value_expression=expression))
    # News: mean of (i - 10) / 100 for i < 38 = 0.085; Code: i < 30 -> 0.045.
    assert [(row.title, round(row.average_value, 4)) for row in listings] == [
        ("News", 0.085),
        ("Code", 0.045),
    ]


def test_detail_page_tells_the_buyer_the_outcome(client, finished_job, buyer):

    login(client, buyer)
    ValuationJob.objects.filter(pk=finished_job.pk).update(finished_at=timezone.now())
    html = client.get(reverse("valuation:job_detail", args=[finished_job.pk])).content.decode()
    assert "68 samples valued. We also emailed you." in html
    assert f'href="/valuation/jobs/{finished_job.pk}/results/"' in html
    assert "http-equiv" not in html and "Cancel</button>" not in html

    ValuationJob.objects.filter(pk=finished_job.pk).update(
        status="failed", error="Exact LinFiK labels, step 2 of 3 failed: ValueError: boom"
    )
    html = client.get(reverse("valuation:job_detail", args=[finished_job.pk])).content.decode()
    assert "Exact LinFiK labels, step 2 of 3 failed: ValueError: boom" in html
    assert "Retry from where it stopped" in html
    results = client.get(reverse("valuation:job_results", args=[finished_job.pk]))
    assert results.status_code == 302  # no results for a failed job


def test_detail_page_shows_the_proxy_fidelity_and_its_heads(client, finished_job, buyer):
    fidelity = {
        "spearman": 0.6912,
        "kendall_tau": 0.5,
        "precision_at_10pct": 0.7,
        "n_holdout": 18.0,
        "folds": 5,
        "inputs": ["sentence embedding", "model hidden state after layer 4"],
    }
    ValuationJob.objects.filter(pk=finished_job.pk).update(fidelity=fidelity)
    login(client, buyer)
    html = client.get(reverse("valuation:job_detail", args=[finished_job.pk])).content.decode()
    assert "held-out exact labels)</dt><dd>0.691</dd>" in html
    assert "<dt>Held-out labels</dt><dd>18</dd>" in html
    assert re.search(r"<dt>Proxy heads</dt><dd[^>]*>5, cross-fitted</dd>", html)  # 1 round
    assert (
        "<dt>Proxy inputs</dt><dd>sentence embedding, model hidden state after layer 4</dd>" in html
    )
    # Three rounds of cross-fitting: 15 heads.
    ValuationJob.objects.filter(pk=finished_job.pk).update(fidelity={**fidelity, "repeats": 3})
    html = client.get(reverse("valuation:job_detail", args=[finished_job.pk])).content.decode()
    assert re.search(
        r"<dt>Proxy heads</dt><dd[^>]*>15: 5 folds × 3 rounds, cross-fitted</dd>", html
    )
    # A one-split proxy (VALUATION_PROXY_FOLDS=1) has no heads row.
    ValuationJob.objects.filter(pk=finished_job.pk).update(fidelity={**fidelity, "folds": 1})
    html = client.get(reverse("valuation:job_detail", args=[finished_job.pk])).content.decode()
    assert "Proxy heads" not in html


def test_provider_dashboard_shows_aggregate_valuations_without_buyer_details(
    client, finished_job, provider
):
    from valuation.selectors import provider_valuation_summaries

    summaries = {row.title: row for row in provider_valuation_summaries(provider=provider)}
    html = login(client, provider).get("/provider/datasets/").content.decode()

    # News: 38 non-duplicate samples scored (i - 10) / 100; Code: 30 samples.
    assert (summaries["News"].jobs, summaries["News"].scored, summaries["News"].positive) == (
        1,
        38,
        27,
    )
    assert summaries["News"].mean_score == pytest.approx(323 / 3800)
    assert (summaries["Code"].scored, summaries["Code"].positive) == (30, 19)
    assert summaries["Code"].mean_score == pytest.approx(135 / 3000)
    assert html.count("data-valuation-listing=") == 2
    assert "27 (71%)" in html
    assert finished_job.task.name not in html and "bea" not in html


def test_unfinished_jobs_do_not_count_in_provider_summaries(queued_job, provider):
    from valuation.selectors import provider_valuation_summaries

    assert provider_valuation_summaries(provider=provider) == []


def test_browse_sorts_by_value_for_a_buyer_with_a_finished_valuation(client, finished_job, buyer):
    html = login(client, buyer).get("/data/?sort=value").content.decode()

    values = re.findall(r"<td class=\"num mono small\" data-average-value>(.*?)</td>", html)
    # News: mean 323/3800 = 0.085; Code: 135/3000 = 0.045; highest first.
    assert values == ["0.085", "0.045"]
    assert 'value="value"' in html


def test_value_sort_is_not_offered_without_a_valuation(client, pool, buyer):
    response = login(client, buyer).get("/data/?sort=value")

    assert 'value="value"' not in response.content.decode()
    assert "Select a valid choice" in response.content.decode()


def test_request_keeps_the_budget_and_the_subset_page_starts_from_it(
    client, valuation_settings, pool, target_task, buyer, django_capture_on_commit_callbacks
):
    login(client, buyer)
    url = reverse("valuation:job_request", args=[target_task.pk])
    with django_capture_on_commit_callbacks(execute=False):
        client.post(
            url,
            {
                "listings": [pool[0].listing_id],
                "model_spec": "local",
                "method": "alinfik",
                "label_fraction": "0.25",
                "seed": "0",
                "budget": "12.50",
            },
        )
    job = ValuationJob.objects.get()
    assert job.budget == 1250
    ValuationJob.objects.filter(pk=job.pk).update(status=ValuationJob.Status.SUCCEEDED)

    page = client.get(reverse("subset:job_subset", args=[job.pk])).content.decode()

    assert 'value="12.50"' in page
    assert re.search(r'<input[^>]*value="budget"[^>]*checked', page)


def test_a_malformed_budget_is_refused_and_creates_no_job(
    client, valuation_settings, pool, target_task, buyer
):
    login(client, buyer)
    response = client.post(
        reverse("valuation:job_request", args=[target_task.pk]),
        {
            "listings": [pool[0].listing_id],
            "model_spec": "local",
            "method": "alinfik",
            "label_fraction": "0.25",
            "seed": "0",
            "budget": "12.505",
        },
    )

    assert response.status_code == 200
    assert "at most 2 decimals" in response.content.decode()
    assert ValuationJob.objects.count() == 0


def test_api_request_accepts_a_budget_in_minor_units(
    valuation_settings, pool, target_task, buyer, django_capture_on_commit_callbacks
):
    api = APIClient()
    api.force_authenticate(buyer)
    with django_capture_on_commit_callbacks(execute=False):
        response = api.post(
            "/api/valuation/jobs/",
            {
                "task": target_task.pk,
                "versions": [pool[0].pk],
                "model_spec": "local",
                "label_fraction": 0.25,
                "budget": 999,
            },
            format="json",
        )

    assert response.status_code == 201, response.json()
    assert response.json()["budget"] == 999
    assert ValuationJob.objects.get().budget == 999


def test_the_migration_moves_per_listing_figures_to_rows_and_back(finished_job):
    from django.apps import apps

    migration = importlib.import_module("valuation.migrations.0006_listing_summaries")
    fields = ("listing_id", "version_id", "valued", "exact", "positive", "negative", "zero")
    fields += ("duplicates", "mean", "low", "high", "positive_value", "histogram")
    rows = sorted(ListingSummary.objects.filter(job=finished_job).values_list(*fields))
    summary = finished_job.summary

    migration.table_to_rows(apps, None)  # the earlier form: a list in the job's summary
    ListingSummary.objects.all().delete()
    finished_job.refresh_from_db()
    listings = finished_job.summary["listings"]
    assert [row["listing_title"] for row in listings] == ["Code", "News"]
    assert "histogram" not in finished_job.summary

    migration.rows_to_table(apps, None)
    finished_job.refresh_from_db()
    assert sorted(ListingSummary.objects.filter(job=finished_job).values_list(*fields)) == rows
    assert finished_job.summary == summary
