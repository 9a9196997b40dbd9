"""Subset selection from a finished job (page and API), quoting it, paying in test mode, and
the signed, expiring, buyer-bound JSONL download."""

from __future__ import annotations

import json
import time
from fractions import Fraction
from urllib.parse import parse_qs, urlparse

import pytest
from django.core import signing
from django.urls import reverse

from payments.models import Order, Quote
from payments.selectors.downloads import SIGNING_SALT, order_download_token
from payments.services.orders import (
    order_checkout_start,
    order_create_from_quote,
    order_test_payment_confirm,
)
from payments.services.quotes import quote_create_for_job
from payments.subset import job_subset_select
from tests.payments.journey import build_job_world, pks
from valuation.budget import money_to_minor_units
from valuation.errors import ValuationRequestInvalid

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("test_mode")]


@pytest.fixture
def world(buyer, provider_a, provider_b, settings):
    settings.PLATFORM_FEE_BPS = 2000
    return build_job_world(buyer=buyer, provider_a=provider_a, provider_b=provider_b)


def subset_url(world) -> str:
    return reverse("subset:job_subset", args=[world["job"].pk])


def api_url(world) -> str:
    return reverse("subset-api:job_subset", args=[world["job"].pk])


# --- the selection rules over the job ---------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "keys", "value", "price"),
    [
        ({"mode": "top_k", "k": 2}, ("a1", "b1"), Fraction(5), 200),
        ({"mode": "top_k", "k": 99}, ("a1", "b1", "a2", "b2"), Fraction(13, 2), 310),
        ({"mode": "threshold", "threshold": 1.0}, ("a1", "b1", "a2"), Fraction(6), 300),
        (
            {"mode": "threshold", "threshold": -1.0, "include_non_positive": True},
            ("a1", "b1", "a2", "b2", "a3"),
            Fraction(6),
            360,
        ),
        ({"mode": "threshold", "threshold": -1.0}, ("a1", "b1", "a2", "b2"), Fraction(13, 2), 310),
        ({"mode": "budget", "budget": 110}, ("a1", "b2"), Fraction(7, 2), 110),
        ({"mode": "budget", "budget": 9}, (), Fraction(0), 0),
    ],
)
def test_selection_takes_only_sellable_non_duplicates(world, params, keys, value, price):
    preview = job_subset_select(job=world["job"], **params)

    assert preview.sample_ids == tuple(pks(world, *keys))
    assert (preview.total_value, preview.exact_price, preview.estimated_price) == (
        value,
        price,
        price,
    )
    assert preview.currency == "usd"
    expected_candidates = 5 if params.get("include_non_positive") else 4
    assert preview.candidate_count == expected_candidates


@pytest.mark.parametrize(
    ("text", "cents"), [("12", 1200), ("12.5", 1250), ("12.05", 1205), (" 0.99 ", 99)]
)
def test_money_is_parsed_to_integer_cents(text, cents):
    assert money_to_minor_units(text=text) == cents


@pytest.mark.parametrize("text", ["", "1.234", "-1", "1e3", "nan", "1,50", "abc"])
def test_bad_money_is_refused(text):
    with pytest.raises(ValuationRequestInvalid):
        money_to_minor_units(text=text)


# --- the page ---------------------------------------------------------------------------------


def test_results_page_links_to_the_subset_page(client, buyer, world):
    client.force_login(buyer)
    response = client.get(reverse("valuation:job_results", args=[world["job"].pk]))
    assert response.status_code == 200
    assert subset_url(world) in response.content.decode()


def test_page_previews_a_top_k_subset(client, buyer, world):
    client.force_login(buyer)
    response = client.get(subset_url(world), {"mode": "top_k", "k": "2"})

    assert response.status_code == 200
    preview = response.context["preview"]
    assert preview.sample_ids == tuple(pks(world, "a1", "b1"))
    body = response.content.decode()
    assert "2 of 4 for sale" in body
    assert "Request quote" in body
    assert Quote.objects.count() == 0


def test_page_budget_in_dollars_and_cents(client, buyer, world):
    client.force_login(buyer)
    response = client.get(subset_url(world), {"mode": "budget", "budget": "1.10"})
    assert response.context["preview"].sample_ids == tuple(pks(world, "a1", "b2"))

    response = client.get(subset_url(world), {"mode": "budget", "budget": "1.105"})
    assert response.context["preview"] is None
    assert "Enter an amount such as 12 or 12.50 (at most 2 decimals)." in (
        response.content.decode()
    )


def test_page_request_quote_quotes_exactly_the_selection(client, buyer, world):
    client.force_login(buyer)
    response = client.post(subset_url(world), {"mode": "top_k", "k": "2"})

    quote = Quote.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("payments:quote_detail", args=[quote.pk])
    assert sorted(line["sample_id"] for line in quote.lines["samples"]) == sorted(
        str(pk) for pk in pks(world, "a1", "b1")
    )
    assert (quote.total, quote.fee, quote.valuation_job_ref) == (200, 40, str(world["job"].pk))


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_buyer_gets_404_and_nothing_changes(client, other_buyer, world, method):
    client.force_login(other_buyer)
    response = getattr(client, method)(subset_url(world), {"mode": "top_k", "k": "2"})
    assert response.status_code == 404
    assert Quote.objects.count() == 0


def test_a_provider_gets_403_and_nothing_changes(client, provider_a, world):
    client.force_login(provider_a)
    response = client.post(subset_url(world), {"mode": "top_k", "k": "2"})
    assert response.status_code == 403
    assert Quote.objects.count() == 0


def test_anonymous_is_sent_to_login(client, world):
    response = client.post(subset_url(world), {"mode": "top_k", "k": "2"})
    assert response.status_code == 302
    assert "/login/" in response["Location"]
    assert Quote.objects.count() == 0


# --- the API ----------------------------------------------------------------------------------


def test_api_returns_the_selection(client, buyer, world):
    client.force_login(buyer)
    response = client.post(
        api_url(world), {"mode": "budget", "budget": 110}, content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json() == {
        "mode": "budget",
        "include_non_positive": False,
        "count": 2,
        "sample_ids": pks(world, "a1", "b2"),
        "total_value": "7/2",
        "total_value_float": 3.5,
        "exact_price": "110",
        "estimated_price": 110,
        "currency": "usd",
        "candidate_count": 4,
        "owned_count": 0,
    }
    assert Quote.objects.count() == 0


def test_api_refuses_a_missing_k(client, buyer, world):
    client.force_login(buyer)
    response = client.post(api_url(world), {"mode": "top_k"}, content_type="application/json")
    assert response.status_code == 400


def test_api_other_buyer_404_provider_403_anonymous_refused(client, other_buyer, provider_a, world):
    body = {"mode": "top_k", "k": 2}
    assert client.post(api_url(world), body, content_type="application/json").status_code in (
        401,
        403,
    )
    client.force_login(provider_a)
    assert client.post(api_url(world), body, content_type="application/json").status_code == 403
    client.force_login(other_buyer)
    assert client.post(api_url(world), body, content_type="application/json").status_code == 404
    assert Quote.objects.count() == 0


# --- downloads --------------------------------------------------------------------------------


def paid_order(world, buyer, keys=("a1", "b1")) -> Order:
    quote = quote_create_for_job(buyer=buyer, job_id=world["job"].pk, sample_ids=pks(world, *keys))
    order = order_create_from_quote(quote_id=quote.pk, buyer=buyer)
    order_checkout_start(order_id=order.pk, buyer=buyer)
    return order_test_payment_confirm(order_id=order.pk, buyer=buyer)


def download_url(order: Order, token: str) -> str:
    return reverse("payments:order_download", args=[order.pk]) + "?token=" + token


def read_jsonl(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in body.splitlines()]


def test_full_journey_subset_quote_accept_pay_download(client, buyer, world):
    client.force_login(buyer)
    results = client.get(reverse("valuation:job_results", args=[world["job"].pk]))
    assert subset_url(world) in results.content.decode()

    response = client.post(subset_url(world), {"mode": "top_k", "k": "2"})
    quote = Quote.objects.get()
    assert response["Location"] == reverse("payments:quote_detail", args=[quote.pk])
    assert client.get(response["Location"]).status_code == 200

    response = client.post(reverse("payments:quote_accept", args=[quote.pk]))
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"].endswith(reverse("payments:test_checkout", args=[order.pk]))
    response = client.post(reverse("payments:test_checkout_pay", args=[order.pk]))
    order.refresh_from_db()
    assert order.status == Order.Status.PAID

    detail = client.get(reverse("payments:order_detail", args=[order.pk]))
    link = detail.context["download_url"]
    assert "Download JSONL" in detail.content.decode()
    parquet = reverse("payments-api:order_download", args=[order.pk]) + "?format=parquet"
    card = reverse("payments-api:order_dataset_card", args=[order.pk])
    assert f'href="{parquet}"' in detail.content.decode().replace("&amp;", "&")
    assert f'href="{card}"' in detail.content.decode()
    assert client.get(parquet).status_code == 200
    assert client.get(card).status_code == 200
    listing_page = client.get(reverse("payments:order_list"))
    assert link.split("?")[0] in listing_page.content.decode()

    response = client.get(link)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    rows = sorted(read_jsonl(response), key=lambda row: row["sample_id"])
    assert rows == [
        {
            "sample_id": "la-0",
            "listing": {"slug": "la", "title": "la"},
            "dataset_version": 1,
            "licence": "CC-BY-4.0",
            "value": 3.0,
            "value_exact": "3",
            "text": "text la 0",
        },
        {
            "sample_id": "lb-0",
            "listing": {"slug": "lb", "title": "lb"},
            "dataset_version": 1,
            "licence": "CC-BY-4.0",
            "value": 2.0,
            "value_exact": "2",
            "text": "text lb 0",
        },
    ]


def test_link_of_another_user_is_403(client, buyer, other_buyer, world):
    order = paid_order(world, buyer)
    client.force_login(other_buyer)
    response = client.get(download_url(order, order_download_token(order=order)))
    assert response.status_code == 403
    assert not hasattr(response, "streaming_content")


def test_tampered_link_is_403(client, buyer, world):
    order = paid_order(world, buyer)
    token = order_download_token(order=order)
    client.force_login(buyer)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(download_url(order, tampered)).status_code == 403
    assert client.get(download_url(order, "")).status_code == 403
    # A valid token of this buyer for another order id does not open this one.
    forged = signing.TimestampSigner(salt=SIGNING_SALT).sign(f"{order.pk + 1}:{buyer.pk}")
    assert client.get(download_url(order, forged)).status_code == 403


def test_expired_link_is_410(client, buyer, world, monkeypatch, settings):
    settings.PAYMENTS_DOWNLOAD_MAX_AGE_SECONDS = 3600
    order = paid_order(world, buyer)
    old = signing.b62_encode(int(time.time()) - 3601)
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: old)
    token = order_download_token(order=order)
    monkeypatch.undo()
    client.force_login(buyer)
    response = client.get(download_url(order, token))
    assert response.status_code == 410
    assert not hasattr(response, "streaming_content")


def test_unpaid_order_has_no_download(client, buyer, world):
    quote = quote_create_for_job(buyer=buyer, job_id=world["job"].pk, sample_ids=pks(world, "a1"))
    order = order_create_from_quote(quote_id=quote.pk, buyer=buyer)
    client.force_login(buyer)
    assert (
        client.get(reverse("payments:order_detail", args=[order.pk])).context["download_url"] == ""
    )
    response = client.get(download_url(order, order_download_token(order=order)))
    assert response.status_code == 403


def test_link_from_order_list_parses_to_a_token(client, buyer, world):
    order = paid_order(world, buyer)
    client.force_login(buyer)
    orders = client.get(reverse("payments:order_list")).context["orders"]
    token = parse_qs(urlparse(orders[0].download_url).query)["token"][0]
    assert signing.TimestampSigner(salt=SIGNING_SALT).unsign(token) == f"{order.pk}:{buyer.pk}"
