"""The seam with marketplace and valuation: quoting a finished job's scores, entitlements."""

from fractions import Fraction

import pytest
from django.utils import timezone

from marketplace.models import Listing, Sample
from payments.errors import NotAllowedError, QuoteError
from payments.models import Quote
from payments.selectors import user_has_listing_entitlement, user_has_sample_entitlement
from payments.services.orders import (
    order_checkout_start,
    order_create_from_quote,
    order_test_payment_confirm,
)
from payments.services.quotes import quote_create_for_job
from tests.factories import make_sample
from tests.payments.conftest import ids
from valuation.models import ValuationJob

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("test_mode")]


def test_a_job_quote_uses_the_scores_listings_and_job_identity(world, buyer, provider_a):
    quote = quote_create_for_job(
        buyer=buyer,
        job_id=world["job"].pk,
        sample_ids=ids(world, "a1", "a2", "b1"),
        value_rate=100,
    )

    assert (quote.total, quote.fee) == (600, 120)
    assert [(p["provider_id"], p["amount"]) for p in quote.lines["providers"]] == [
        (str(provider_a.pk), 320),
        (str(world["listings"][1].provider_id), 160),
    ]
    assert (quote.valuation_job_ref, quote.model_identity, quote.valuation_method) == (
        str(world["job"].pk),
        "sha-model",
        "alinfik",
    )
    assert quote.fidelity == {"spearman": 0.9}
    assert quote.target_task_ref == str(world["task"].pk)
    assert quote.lines["samples"][0]["value"] == str(Fraction(3.0))


def test_a_duplicate_is_quoted_as_excluded(world, buyer):
    a1 = world["samples"]["a1"]
    a2 = world["samples"]["a2"]
    Sample.objects.filter(pk=a2.pk).update(duplicate_of=a1, duplicate_kind="exact")

    quote = quote_create_for_job(
        buyer=buyer, job_id=world["job"].pk, sample_ids=ids(world, "a1", "a2")
    )

    assert quote.lines["excluded"] == [{"sample_id": str(a2.pk), "reason": "duplicate"}]
    assert quote.sample_count == 1


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("unfinished", "is running; only finished jobs are quoted"),
        ("taken_down", "are not for sale"),
        ("unscored", "were not valued by job"),
    ],
)
def test_a_job_quote_refuses_what_cannot_be_sold(world, buyer, provider_a, setup, message):
    sample_ids = ids(world, "a1", "b1")
    if setup == "unfinished":
        ValuationJob.objects.filter(pk=world["job"].pk).update(status="running")
    elif setup == "taken_down":
        Listing.objects.filter(pk=world["listings"][1].pk).update(
            status="taken_down", taken_down_at=timezone.now()
        )
    else:
        sample_ids.append(make_sample(world["listings"][0], 9, 10).pk)

    with pytest.raises(QuoteError, match=message):
        quote_create_for_job(buyer=buyer, job_id=world["job"].pk, sample_ids=sample_ids)
    assert Quote.objects.count() == 0


def test_another_buyers_job_cannot_be_quoted(world, other_buyer):
    with pytest.raises(NotAllowedError, match="does not exist or is not yours"):
        quote_create_for_job(buyer=other_buyer, job_id=world["job"].pk, sample_ids=ids(world, "a1"))
    assert Quote.objects.count() == 0


def test_entitlements_follow_payment_and_survive_a_take_down(world, buyer, other_buyer):
    quote = quote_create_for_job(buyer=buyer, job_id=world["job"].pk, sample_ids=ids(world, "a1"))
    la, lb = world["listings"]
    assert not user_has_listing_entitlement(user=buyer, listing=la)

    order = order_create_from_quote(quote_id=quote.pk, buyer=buyer)
    order_checkout_start(order_id=order.pk, buyer=buyer)
    order_test_payment_confirm(order_id=order.pk, buyer=buyer)
    Listing.objects.filter(pk=la.pk).update(status="taken_down", taken_down_at=timezone.now())

    assert user_has_listing_entitlement(user=buyer, listing=la)
    assert not user_has_listing_entitlement(user=buyer, listing=lb)
    assert not user_has_listing_entitlement(user=other_buyer, listing=la)
    assert user_has_sample_entitlement(user=buyer, sample_id=world["samples"]["a1"].pk)
    assert not user_has_sample_entitlement(user=buyer, sample_id=world["samples"]["a2"].pk)


# --- REST API -------------------------------------------------------------------------------


@pytest.fixture
def api(settings):
    from rest_framework.test import APIClient

    settings.PRICING_VALUE_RATE = "100"
    settings.PLATFORM_FEE_BPS = 2000
    return APIClient()


def test_the_api_quotes_a_job_accepts_and_reports_the_provider_balance(
    api, world, buyer, provider_a
):
    api.force_authenticate(buyer)

    created = api.post(
        "/api/payments/quotes/",
        {"job_id": world["job"].pk, "sample_ids": ids(world, "a1", "a2", "b1")},
        format="json",
    )
    quote_id = created.json()["id"]
    accepted = api.post(f"/api/payments/quotes/{quote_id}/accept/")
    again = api.post(f"/api/payments/quotes/{quote_id}/accept/")

    assert created.status_code == 201
    assert (created.json()["total"], created.json()["fee"]) == (600, 120)
    assert accepted.status_code == 201
    order_id = accepted.json()["order"]["id"]
    assert accepted.json()["checkout_url"] == f"/payments/orders/{order_id}/test-checkout/"
    assert accepted.json()["order"]["status"] == "pending"
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "quote_not_open"

    order_test_payment_confirm(order_id=order_id, buyer=buyer)
    assert api.get(f"/api/payments/orders/{order_id}/").json()["status"] == "paid"
    api.force_authenticate(provider_a)
    balance = api.get("/api/payments/provider/balance/").json()
    assert balance == {
        "currency": "usd",
        "earned": 320,
        "refunded": 0,
        "transferred": 0,
        "reversed": 0,
        "paid_out": 0,
        "owed": 320,
    }


def test_the_api_refuses_bad_input_and_other_peoples_records(api, world, buyer, other_buyer):
    api.force_authenticate(buyer)
    empty = api.post(
        "/api/payments/quotes/", {"job_id": world["job"].pk, "sample_ids": []}, format="json"
    )
    quote = quote_create_for_job(buyer=buyer, job_id=world["job"].pk, sample_ids=ids(world, "a1"))
    api.force_authenticate(other_buyer)
    foreign_job = api.post(
        "/api/payments/quotes/",
        {"job_id": world["job"].pk, "sample_ids": ids(world, "a1")},
        format="json",
    )
    foreign_quote = api.get(f"/api/payments/quotes/{quote.pk}/")
    foreign_accept = api.post(f"/api/payments/quotes/{quote.pk}/accept/")

    assert empty.status_code == 400
    assert "sample_ids" in empty.json()["error"]["details"]
    assert [foreign_job.status_code, foreign_quote.status_code, foreign_accept.status_code] == [
        404,
        404,
        404,
    ]
    assert Quote.objects.get(pk=quote.pk).status == "open"
    assert Quote.objects.count() == 1


def test_a_floor_price_too_large_for_one_order_is_a_clear_400_and_no_quote(api, world, buyer):
    """A provider's floor of 9e18 per 1k tokens (stored before prices were bounded) made a
    buyer's quote a 500 (OverflowError storing the total): now it is refused with a reason."""
    la = world["listings"][0]
    Listing.objects.filter(pk=la.pk).update(floor_price_per_1k_tokens=9_000_000_000_000_000_000)
    api.force_authenticate(buyer)

    response = api.post(
        "/api/payments/quotes/",
        {"job_id": world["job"].pk, "sample_ids": ids(world, "a1", "b1")},
        format="json",
    )

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "total_too_large"
    assert "one order can charge at most 99,999,999" in error["message"]
    assert Quote.objects.count() == 0


def test_a_quote_at_the_largest_floor_price_is_stored_exactly(world, buyer):
    la = world["listings"][0]
    Listing.objects.filter(pk=la.pk).update(floor_price_per_1k_tokens=100_000_000)
    Sample.objects.filter(pk=world["samples"]["a1"].pk).update(token_count=999)

    quote = quote_create_for_job(buyer=buyer, job_id=world["job"].pk, sample_ids=ids(world, "a1"))

    assert quote.total == 99_900_000
