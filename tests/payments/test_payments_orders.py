"""Quotes and orders, paid through the test-mode gateway (no Stripe key)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.errors import (
    NotAllowedError,
    OrderStateError,
    PaymentMismatchError,
    QuoteError,
    QuoteExpiredError,
    QuoteNotOpenError,
)
from payments.gateways.base import CheckoutState
from payments.models import (
    Entitlement,
    LedgerAccount,
    LedgerTransaction,
    Order,
    OrderLine,
    PayoutLine,
    Quote,
)
from payments.pricing import CandidateSample, ListingTerms
from payments.selectors import entitled_sample_refs
from payments.selectors.ledger import platform_ledger_summary, provider_ledger_summary
from payments.services.orders import (
    order_checkout_line_items,
    order_checkout_start,
    order_create_from_quote,
    order_mark_paid,
    order_test_payment_confirm,
)
from payments.services.payouts import TransferOutcome, payout_line_transfer
from payments.services.quotes import ValuationMeta, quote_create
from tests.payments.conftest import META, sale_samples

pytestmark = pytest.mark.usefixtures("test_mode")


def test_a_quote_records_prices_fee_and_valuation_inputs(sale_quote, buyer):
    quote = Quote.objects.get(pk=sale_quote.pk)

    assert (quote.total, quote.fee, quote.fee_bps, quote.currency) == (600, 120, 2000, "usd")
    assert quote.status == Quote.Status.OPEN
    assert quote.formula_version == "2026-12-v2"
    assert quote.value_rate == "100"
    assert quote.sample_count == 3
    assert (quote.valuation_job_ref, quote.model_identity, quote.valuation_method) == (
        "job-42",
        "smollm2-135m@abc123",
        "alinfik",
    )
    assert (quote.target_set_hash, quote.target_task_ref) == ("f" * 64, "task-7")
    assert quote.fidelity == {"spearman": 0.93, "n_holdout": 40}
    assert [(p["gross"], p["fee"], p["amount"]) for p in quote.lines["providers"]] == [
        (400, 80, 320),
        (200, 40, 160),
    ]
    samples = quote.lines["samples"]
    assert {s["sample_id"]: (s["price"], s["gross"], s["fee"], s["payout"]) for s in samples} == {
        "a1": ("300", 300, 60, 240),
        "a2": ("100", 100, 20, 80),
        "b1": ("200", 200, 40, 160),
    }
    assert quote.expires_at - quote.created_at == timedelta(minutes=30)


def test_quote_refuses_a_user_without_the_buyer_role(provider_a, provider_b):
    samples, listings = sale_samples(provider_a, provider_b)

    with pytest.raises(NotAllowedError, match="does not hold the buyer role"):
        quote_create(
            buyer=provider_a,
            samples_with_values=samples,
            listing_terms=listings,
            valuation_meta=META,
        )
    assert Quote.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"valuation_meta": ValuationMeta("", "m", "h", "alinfik")},
            "valuation_meta.job_ref must be a non-empty string",
        ),
        (
            {"valuation_meta": ValuationMeta("j", "m", "h", "magic")},
            "valuation_meta.method must be one of",
        ),
        ({"samples_with_values": []}, "cannot price the subset: the subset to quote is empty"),
        (
            {"listing_terms": [ListingTerms("la", 100, "EUR"), ListingTerms("lb", 50, "EUR")]},
            "listings are priced in EUR, but payouts are made in USD",
        ),
        ({"fee_bps": 10_001}, "fee_bps must be >= 0 and <= 10000"),
        ({"ttl": timedelta(0)}, "ttl must be positive"),
        (
            {"valuation_meta": ValuationMeta("j", "m", "h", "linfik", {"x": float("nan")})},
            "valuation_meta.fidelity must be JSON-safe",
        ),
    ],
)
def test_quote_refuses_bad_input_with_a_clear_message(make_sale_quote, change, message):
    with pytest.raises(QuoteError, match=message):
        make_sale_quote(**change)
    assert Quote.objects.count() == 0


def test_quote_refuses_a_provider_id_that_is_not_a_provider(buyer, provider_a, other_buyer):
    samples = [CandidateSample("x", str(other_buyer.pk), "la", "dv", 1000, 1)]

    with pytest.raises(QuoteError, match=f"user {other_buyer.pk} does not hold the provider role"):
        quote_create(
            buyer=buyer,
            samples_with_values=samples,
            listing_terms=[ListingTerms("la", 100, "USD")],
            valuation_meta=META,
        )
    samples = [CandidateSample("x", "999999", "la", "dv", 1000, 1)]
    with pytest.raises(QuoteError, match="provider_id '999999' is not a user id"):
        quote_create(
            buyer=buyer,
            samples_with_values=samples,
            listing_terms=[ListingTerms("la", 100, "USD")],
            valuation_meta=META,
        )


def test_accepting_a_quote_opens_an_order_with_its_lines(sale_quote, buyer, provider_a):
    order = order_create_from_quote(quote_id=sale_quote.pk, buyer=buyer)

    sale_quote.refresh_from_db()
    assert sale_quote.status == Quote.Status.ACCEPTED and sale_quote.accepted_at is not None
    assert (order.status, order.total, order.fee, order.net, order.gateway) == (
        Order.Status.PENDING,
        600,
        120,
        480,
        "test",
    )
    assert order.transfer_group == f"order_{order.pk}"
    assert order.quote_snapshot == sale_quote.lines
    lines = {
        line.sample_ref: (line.dataset_version_ref, line.provider_id, line.price)
        + (line.gross, line.fee, line.payout)
        for line in OrderLine.objects.filter(order=order)
    }
    assert lines["a1"] == ("dv-a", provider_a.pk, "300", 300, 60, 240)
    assert len(lines) == 3
    assert [(i.name, i.amount) for i in order_checkout_line_items(order=order)] == [
        ("dataset version dv-a: 2 training samples", 400),
        ("dataset version dv-b: 1 training samples", 200),
    ]


def test_a_quote_is_accepted_once(sale_quote, buyer):
    order_create_from_quote(quote_id=sale_quote.pk, buyer=buyer)

    with pytest.raises(QuoteNotOpenError, match="already accepted"):
        order_create_from_quote(quote_id=sale_quote.pk, buyer=buyer)
    assert Order.objects.count() == 1


def test_an_expired_quote_is_refused_and_stays_open(sale_quote, buyer):
    later = sale_quote.expires_at + timedelta(seconds=1)

    with pytest.raises(QuoteExpiredError, match="expired at"):
        order_create_from_quote(quote_id=sale_quote.pk, buyer=buyer, now=later)
    sale_quote.refresh_from_db()
    assert sale_quote.status == Quote.Status.OPEN and sale_quote.accepted_at is None
    assert Order.objects.count() == 0


def test_another_buyer_cannot_accept_the_quote(sale_quote, other_buyer):
    with pytest.raises(NotAllowedError, match="does not exist or is not yours"):
        order_create_from_quote(quote_id=sale_quote.pk, buyer=other_buyer)
    sale_quote.refresh_from_db()
    assert sale_quote.status == Quote.Status.OPEN
    assert Order.objects.count() == 0


def test_test_checkout_points_to_our_own_page(checkout_order):
    order = checkout_order()

    assert order.checkout_session_id == f"test_cs_{order.pk}"
    assert order.checkout_url == f"/payments/orders/{order.pk}/test-checkout/"


def test_a_test_payment_books_order_entitlement_ledger_and_pending_payouts(
    checkout_order, buyer, provider_a, provider_b
):
    order = checkout_order()

    order_test_payment_confirm(order_id=order.pk, buyer=buyer)

    order.refresh_from_db()
    assert order.status == Order.Status.PAID and order.paid_at is not None
    assert (order.payment_intent_id, order.charge_id) == (
        f"test_pi_{order.pk}",
        f"test_ch_{order.pk}",
    )
    assert Entitlement.objects.get(order=order).buyer == buyer
    assert entitled_sample_refs(user=buyer) == {"a1", "a2", "b1"}
    lines = {
        li.provider_id: (li.amount, li.status) for li in PayoutLine.objects.filter(order=order)
    }
    assert lines == {provider_a.pk: (320, "pending"), provider_b.pk: (160, "pending")}
    assert sorted(LedgerTransaction.objects.filter(order=order).values_list("kind", flat=True)) == [
        "buyer_payment",
        "platform_fee",
        "provider_payable",
    ]
    platform = platform_ledger_summary(currency="usd")
    assert (platform.cash, platform.fee_revenue, platform.owed_to_providers) == (600, 120, 480)
    assert platform.buyer_clearing == 0
    assert provider_ledger_summary(provider=provider_a, currency="usd").owed == 320
    assert provider_ledger_summary(provider=provider_b, currency="usd").owed == 160
    # No connected accounts in test mode: the lines wait.
    line = PayoutLine.objects.get(order=order, provider=provider_a)
    assert payout_line_transfer(payout_line_id=line.pk) == TransferOutcome.NOT_ELIGIBLE
    line.refresh_from_db()
    assert (line.status, line.attempts) == ("pending", 0)


def test_confirming_twice_books_once(checkout_order, buyer):
    order = checkout_order()

    order_test_payment_confirm(order_id=order.pk, buyer=buyer)
    order_test_payment_confirm(order_id=order.pk, buyer=buyer)

    assert LedgerTransaction.objects.count() == 3
    assert PayoutLine.objects.count() == 2
    assert Entitlement.objects.count() == 1


def test_another_buyer_cannot_pay_the_order(checkout_order, other_buyer):
    order = checkout_order()

    with pytest.raises(NotAllowedError):
        order_test_payment_confirm(order_id=order.pk, buyer=other_buyer)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert LedgerTransaction.objects.count() == 0


@pytest.mark.parametrize(
    ("amount", "currency", "paid", "message"),
    [
        (599, "usd", True, "expected 600 usd, the gateway reports 599 usd"),
        (600, "eur", True, "expected 600 usd, the gateway reports 600 eur"),
        (600, "usd", False, "is not paid"),
    ],
)
def test_a_payment_that_does_not_match_the_order_is_refused(
    checkout_order, amount, currency, paid, message
):
    order = checkout_order()
    state = CheckoutState(
        order.checkout_session_id, str(order.pk), paid, amount, currency, "pi", "ch"
    )

    with pytest.raises(PaymentMismatchError, match=message):
        order_mark_paid(order_id=order.pk, payment=state)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert LedgerTransaction.objects.count() == 0
    assert Entitlement.objects.count() == 0
    assert PayoutLine.objects.count() == 0


def test_checkout_cannot_start_for_a_paid_order(checkout_order, buyer):
    order = checkout_order()
    order_test_payment_confirm(order_id=order.pk, buyer=buyer)

    with pytest.raises(OrderStateError, match="is paid, not awaiting payment"):
        order_checkout_start(order_id=order.pk, buyer=buyer)


def test_ledger_accounts_are_per_provider(checkout_order, buyer, provider_a, provider_b):
    order_test_payment_confirm(order_id=checkout_order().pk, buyer=buyer)

    payables = LedgerAccount.objects.filter(kind=LedgerAccount.Kind.PROVIDER_PAYABLE)
    assert sorted(payables.values_list("provider_id", flat=True)) == sorted(
        [provider_a.pk, provider_b.pk]
    )


def test_expiry_uses_the_clock_given(make_sale_quote, buyer):
    now = timezone.now()
    quote = make_sale_quote(now=now, ttl=timedelta(minutes=5))

    assert quote.expires_at == now + timedelta(minutes=5)
    order_create_from_quote(quote_id=quote.pk, buyer=buyer, now=now + timedelta(minutes=4))
