"""The results page of a job over more listings than it shows at once: whole-pool figures,
listings by value 20 at a time, and a histogram of all listings beside the five most
valuable ones, drawn as shares of each series' samples."""

from __future__ import annotations

import json

import pytest

from tests.valuation.test_query_counts import finished
from valuation.models import ListingSummary

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.valuation.urls")]


@pytest.fixture
def many(valuation_settings, make_version, target_task, buyer, django_capture_on_commit_callbacks):
    versions = [make_version(f"Set {i:02d}", n=12 + i, seed=20 + i) for i in range(23)]
    return finished(versions, target_task, buyer, django_capture_on_commit_callbacks)


def chart_of(html: str) -> dict:
    return json.loads(
        html.split('id="histogram-data" type="application/json">')[1].split("</script>")[0]
    )


def test_listings_by_value_twenty_a_page_and_the_histogram_as_shares(client, buyer, many):
    client.force_login(buyer)
    ranked = list(ListingSummary.objects.filter(job=many).order_by("-positive_value", "id"))
    assert len(ranked) == 23 == many.summary["listings_count"]

    html = client.get(f"/valuation/jobs/{many.pk}/results/").content.decode()
    shown = [row for row in ranked if f'data-listing="{row.listing_id}"' in html]
    assert shown == ranked[:20]
    assert "Page 1 of 2" in html and "listings_page=2" in html
    assert 'id="listing-filter"' in html  # up to 50 listings, the ranked table has a select
    chart = chart_of(html)
    labels = [dataset["label"] for dataset in chart["datasets"]]
    top = ListingSummary.objects.filter(pk__in=[row.pk for row in ranked[:5]])
    titles = {row.pk: row.listing.title for row in top.select_related("listing")}
    assert labels == ["All listings", *(titles[row.pk] for row in ranked[:5])]
    assert chart["y_title"] == "% of the series' samples"
    for dataset in chart["datasets"]:
        assert sum(dataset["data"]) == pytest.approx(100.0, abs=0.15)  # rounded to 0.01 each
    assert many.summary["histogram"] == [
        sum(row.histogram[i] for row in ranked) for i in range(len(ranked[0].histogram))
    ]

    second = client.get(f"/valuation/jobs/{many.pk}/results/?listings_page=2").content.decode()
    assert [row for row in ranked if f'data-listing="{row.listing_id}"' in second] == ranked[20:]


def test_a_job_over_more_listings_than_a_select_holds_filters_by_link(
    client, buyer, many, settings, monkeypatch
):
    monkeypatch.setattr("valuation.views.FILTER_SELECT_LISTINGS", 10)
    client.force_login(buyer)
    listing = ListingSummary.objects.filter(job=many).select_related("listing").first().listing
    html = client.get(
        f"/valuation/jobs/{many.pk}/results/?listing={listing.pk}&listings_page=2"
    ).content.decode()
    assert 'id="listing-filter"' not in html
    assert f"Samples of {listing.title}" in html
    assert 'href="?listings_page=2#ranked-title">all listings</a>' in html
    assert html.count("no preview") + html.count('data-access="preview"') == (
        many.scores.filter(version__listing=listing).count()
    )


def test_a_job_without_a_stored_summary_shows_its_ranked_samples_only(client, buyer, many):
    many.listing_summaries.all().delete()
    many.summary = {}
    many.save(update_fields=["summary"])
    client.force_login(buyer)
    response = client.get(f"/valuation/jobs/{many.pk}/results/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Listings by value" not in html and "histogram-data" not in html
    assert html.count('<td class="num">') >= 50  # the ranked table's first page
    assert "Page 1 of " in html


def test_a_listing_outside_the_valuation_gets_an_empty_table_that_says_so(client, buyer, many):
    client.force_login(buyer)
    html = client.get(f"/valuation/jobs/{many.pk}/results/?listing=999999").content.decode()
    assert "This valuation holds no samples of that listing." in html
    assert "no preview" not in html and 'data-access="preview"' not in html
