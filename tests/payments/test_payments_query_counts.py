"""The quote page and the provider payout report run a fixed number of queries however many
quote lines, providers, listings and paid orders there are (no query per row)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments.pricing import CandidateSample, ListingTerms
from payments.services.orders import (
    order_checkout_start,
    order_create_from_quote,
    order_test_payment_confirm,
)
from payments.services.quotes import quote_create
from tests.payments.conftest import META, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("test_mode")]


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        if response.streaming:  # the CSV export queries while it streams
            b"".join(response.streaming_content)
    assert response.status_code == 200, url
    return len(queries)


def quote_of(buyer, providers, *, listings: int, samples_per_listing: int, tag: str):
    """A quote over `listings` listings (spread over `providers`), each with some samples."""
    samples, terms = [], []
    for index in range(listings):
        provider = providers[index % len(providers)]
        listing_id = f"{tag}-l{index}"
        terms.append(ListingTerms(listing_id, 100, "USD"))
        samples += [
            CandidateSample(
                f"{listing_id}-s{n}", str(provider.pk), listing_id, f"{tag}-dv{index}", 1000, 2
            )
            for n in range(samples_per_listing)
        ]
    return quote_create(
        buyer=buyer,
        samples_with_values=samples,
        listing_terms=terms,
        valuation_meta=META,
        value_rate=100,
        fee_bps=2000,
    )


def paid(quote, buyer):
    order = order_create_from_quote(quote_id=quote.pk, buyer=buyer)
    order_checkout_start(order_id=order.pk, buyer=buyer)
    return order_test_payment_confirm(order_id=order.pk, buyer=buyer)


def test_quote_page_queries_do_not_grow_with_lines_or_providers(client, buyer, provider_a):
    client.force_login(buyer)
    providers = [provider_a] + [make_user(f"seller{i}", is_provider=True) for i in range(4)]
    small = quote_of(buyer, providers[:1], listings=1, samples_per_listing=2, tag="small")
    large = quote_of(buyer, providers, listings=8, samples_per_listing=6, tag="large")
    assert queries_for(client, f"/payments/quotes/{small.pk}/") == queries_for(
        client, f"/payments/quotes/{large.pk}/"
    )


@pytest.mark.parametrize("url", ["/payments/payouts/", "/payments/payouts.csv"])
def test_payout_report_queries_do_not_grow_with_sales(client, buyer, provider_a, url):
    client.force_login(provider_a)
    paid(quote_of(buyer, [provider_a], listings=1, samples_per_listing=2, tag="first"), buyer)
    few = queries_for(client, url)
    for n in range(4):
        quote = quote_of(buyer, [provider_a], listings=3, samples_per_listing=3, tag=f"more{n}")
        paid(quote, buyer)
    assert queries_for(client, url) == few
