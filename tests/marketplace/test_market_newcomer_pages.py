"""Pages a newcomer reads agree with each other: the listing page shows the buyer's value
from the same valuation as the catalogue, a provider's listing page counts its valuations,
visitors get a call to action, source notices open, values read alike everywhere."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.test import Client

from accounts.services import user_create
from core.formatting import value_text
from marketplace.models import DatasetVersion, Listing
from marketplace.services.listings import listing_create
from marketplace.services.versions import version_upload
from tests.payments.journey import build_job_world

pytestmark = pytest.mark.django_db


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def person(username: str, **roles):
    return user_create(
        username=username, email=f"{username}@example.com", password="pw-long-enough-1", **roles
    )


@pytest.fixture
def world():
    buyer = person("bea", is_buyer=True)
    world = build_job_world(
        buyer=buyer,
        provider_a=person("pa", is_provider=True),
        provider_b=person("pb", is_provider=True),
    )
    world["buyer"] = buyer
    return world


def test_anonymous_listing_page_invites_to_sign_up_or_log_in(world):
    html = client_for().get("/data/la/").content.decode()

    assert 'data-cta="value-this-dataset"' in html
    assert 'href="/accounts/signup/?role=buyer&amp;next=/data/la/"' in html
    assert 'href="/accounts/login/?next=/data/la/"' in html
    # A buyer does not see it.
    assert (
        'data-cta="value-this-dataset"'
        not in client_for(world["buyer"]).get("/data/la/").content.decode()
    )


def test_sign_up_from_the_listing_page_comes_back_to_it(client):
    form = client.get("/accounts/signup/?role=buyer&next=/data/la/").content.decode()
    assert '<input type="hidden" name="next" value="/data/la/">' in form

    response = client.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "roles": ["buyer"],
            "display_name": "New Bie",
            "organisation": "",
            "password1": "a-long-secret-99",
            "password2": "a-long-secret-99",
            "next": "/data/la/",
        },
    )

    assert (response.status_code, response["Location"]) == (302, "/data/la/")
    elsewhere = Client().post(
        "/accounts/signup/",
        {
            "username": "other",
            "email": "o@example.com",
            "roles": ["buyer"],
            "display_name": "",
            "organisation": "",
            "password1": "a-long-secret-99",
            "password2": "a-long-secret-99",
            "next": "https://evil.example.com/",
        },
    )
    assert elsewhere["Location"] == "/"


def test_the_buyers_value_agrees_between_catalogue_and_listing_page(world):
    browser = client_for(world["buyer"])
    job = world["job"]
    expected = value_text((3.0 + 1.0 - 0.5 + 5.0) / 4)  # the scores of la's samples

    catalogue = browser.get("/data/").content.decode()
    row = re.search(r'<tr data-listing="la">.*?</tr>', catalogue, re.S).group(0)
    assert f'<td class="num mono small" data-average-value>{expected}</td>' in row
    listing = browser.get("/data/la/").content.decode()
    stat = re.search(r'<div class="stat" data-stat="value">.*?</div>', listing, re.S).group(0)
    assert f'<p class="stat-value">{expected}</p>' in stat
    assert f'href="/valuation/jobs/{job.pk}/results/">valuation #{job.pk}</a>' in stat
    assert "not valued yet" not in stat


def test_a_provider_listing_page_counts_its_valuations(world):
    page = client_for(world["listings"]["la"].provider).get("/provider/datasets/la/")
    html = page.content.decode()
    stat = re.search(r'<div class="stat" data-stat="valuations">.*?</div>', html, re.S).group(0)

    assert "No valuations yet" not in stat
    assert f"1 valuation · mean value {value_text(2.125)} · 75% of samples help" in stat
    mine = client_for(world["listings"]["la"].provider).get("/provider/datasets/").content.decode()
    assert f">{value_text(2.125)}</td>" in mine  # the same figure on the provider's list


def test_values_read_alike_on_results_and_subset_pages(world):
    browser = client_for(world["buyer"])
    job = world["job"]

    results = browser.get(f"/valuation/jobs/{job.pk}/results/").content.decode()
    assert '<td class="num mono">−0.5</td>' in results and '<td class="num mono">10</td>' in results
    subset = browser.get(f"/valuation/jobs/{job.pk}/subset/?mode=top_k&k=2").content.decode()
    assert '<dd data-preview="value">' + value_text(5.0) + "</dd>" in subset
    # Each rule's own field is needed for that rule, not "(optional)".
    for name in ("k", "threshold", "budget"):
        label = re.search(rf'<label class="form-label" for="id_{name}">.*?</label>', subset).group(
            0
        )
        assert "(optional)" not in label


def test_catalogue_prices_filter_in_the_currency_shown(world):
    html = client_for().get("/data/").content.decode()
    assert "Min price (USD)" in html and "Floor price in USD per 1,000 tokens." in html
    assert "cents" not in html and "(optional)" not in html
    cheap = client_for().get("/data/", {"price_max": "0.50"})
    assert [item.slug for item in cheap.context["page"].object_list] == ["lb"]  # 50 cents


def test_demo_source_text_links_to_the_notices_page(settings):
    from website.management.commands.seed_demo import demo_source_text

    settings.SITE_URL = "http://127.0.0.1:8000"
    provider = person("wn", is_provider=True)
    entry = {
        "datasheet": {"source": "WordNet 3.0 glosses."},
        "attribution": "WordNet 3.0 Copyright 2006. Used under the WordNet 3.0 licence "
        "(see data/NOTICE.txt).",
    }
    source = demo_source_text(entry)
    assert "data/NOTICE.txt" not in source
    assert "(see http://127.0.0.1:8000/notices/)." in source
    listing = listing_create(
        provider=provider,
        title="Glosses",
        licence="MIT",
        floor_price_per_1k_tokens=1,
        currency="usd",
        source=source,
    )
    listing.status = Listing.Status.PUBLISHED
    listing.save(update_fields=["status"])

    html = client_for(provider).get(f"/data/{listing.slug}/").content.decode()
    assert '<a href="http://127.0.0.1:8000/notices/" rel="nofollow">' in html
    notices = client_for().get("/notices/")
    assert notices.status_code == 200
    assert "Brown Corpus" in notices.content.decode()  # demo/data/NOTICE.txt, verbatim


def test_a_ready_version_page_offers_publish_with_a_confirmation():
    provider = person("petra", is_provider=True)
    listing = listing_create(
        provider=provider,
        title="Bills of lading",
        licence="MIT",
        floor_price_per_1k_tokens=5,
        currency="usd",
        language="en",
    )
    rows = "".join(json.dumps({"text": t}) + "\n" for t in ["Freight is due.", "Ship lost."])
    version = version_upload(
        listing=listing, actor=provider, file=io.BytesIO(rows.encode()), filename="b.jsonl"
    )
    assert version.status == DatasetVersion.Status.READY
    # Too little text to detect a language: the datasheet's declared one stands.
    assert version.language == "en"

    page = client_for(provider).get(f"/provider/versions/{version.pk}/").content.decode()
    assert "language en." in page
    form = re.search(r"<section[^>]*data-publish>.*?</section>", page, re.S).group(0)
    assert f'action="/provider/datasets/{listing.slug}/publish/"' in form
    assert 'data-confirm="Publish “Bills of lading”? Buyers can then find it' in form
    response = client_for(provider).post(f"/provider/datasets/{listing.slug}/publish/")
    assert response.status_code == 302
    listing.refresh_from_db()
    assert listing.status == Listing.Status.PUBLISHED
    after = client_for(provider).get(f"/provider/versions/{version.pk}/").content.decode()
    assert "data-publish" not in after and f'href="/data/{listing.slug}/"' in after
