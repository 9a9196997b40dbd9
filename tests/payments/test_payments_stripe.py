"""Stripe Connect end to end against the local fake of the Stripe API, with signed webhooks.

Every Stripe call goes through the official library to tests/fakes/stripe_api.py on 127.0.0.1;
the tests check the parameters each call sent, as Stripe received them (form-encoded strings).
"""

from __future__ import annotations

import re
import time

import pytest

from payments.models import (
    Entitlement,
    LedgerTransaction,
    Order,
    PayoutLine,
    ProviderAccount,
    ProviderPayout,
    Refund,
    TransferReversal,
    WebhookEvent,
)
from payments.selectors.ledger import platform_ledger_summary, provider_ledger_summary
from payments.services.connect import provider_onboarding_link_create
from payments.services.orders import order_confirm_checkout
from tests.payments.conftest import WEBHOOK_URL, deliver

pytestmark = pytest.mark.django_db

TRANSFERS = "/v1/transfers"
REVERSALS = re.compile(r"/v1/transfers/[^/]+/reversals")


@pytest.fixture
def hooks(client, fake_stripe, django_capture_on_commit_callbacks):
    """deliver(event) posts a signed event and runs what it enqueued (eager Celery)."""

    def send(event: dict, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            response = deliver(client, event, **kwargs)
        return response

    return send


@pytest.fixture
def onboard(fake_stripe, hooks, django_capture_on_commit_callbacks):
    """onboard(provider, eligible=True): connected account + account.updated from Stripe."""

    def run(provider, *, eligible: bool = True, created: int | None = None) -> str:
        with django_capture_on_commit_callbacks(execute=True):
            provider_onboarding_link_create(provider=provider)
        account_id = ProviderAccount.objects.get(provider=provider).stripe_account_id
        if eligible:
            account = fake_stripe.update_account(
                account_id,
                charges_enabled=True,
                payouts_enabled=True,
                details_submitted=True,
                requirements={"currently_due": [], "past_due": [], "disabled_reason": None},
            )
            hooks(
                fake_stripe.event("account.updated", account, account=account_id, created=created)
            )
        return account_id

    return run


@pytest.fixture
def pay(fake_stripe, hooks):
    """pay(order): the buyer completes Stripe Checkout; Stripe sends the webhook."""

    def run(order: Order, **event_kwargs) -> dict:
        session = fake_stripe.complete_checkout(order.checkout_session_id)
        response = hooks(fake_stripe.event("checkout.session.completed", session, **event_kwargs))
        assert response.status_code == 200, response.content
        return session

    return run


def charge_of(fake_stripe, order: Order) -> dict:
    session = fake_stripe.objects[order.checkout_session_id]
    return fake_stripe.objects[fake_stripe.objects[session["payment_intent"]]["latest_charge"]]


def line_of(order, provider) -> PayoutLine:
    return PayoutLine.objects.get(order=order, provider=provider)


# --- Connect onboarding ---------------------------------------------------------------------


def test_onboarding_creates_a_controller_account_and_an_account_link(fake_stripe, provider_a):
    url = provider_onboarding_link_create(provider=provider_a)

    [create] = fake_stripe.calls("POST", "/v1/accounts")
    assert create.params["controller"] == {
        "fees": {"payer": "application"},
        "losses": {"payments": "application"},
        "stripe_dashboard": {"type": "express"},
    }
    assert create.params["capabilities"] == {
        "card_payments": {"requested": "true"},
        "transfers": {"requested": "true"},
    }
    assert create.params["email"] == "provider_a@example.com"
    assert create.params["metadata"] == {"provider_id": str(provider_a.pk)}
    assert create.idempotency_key == f"provider-{provider_a.pk}-connected-account"
    account = ProviderAccount.objects.get(provider=provider_a)
    assert account.stripe_account_id.startswith("acct_fake")
    assert not account.payout_eligible
    [link] = fake_stripe.calls("POST", "/v1/account_links")
    assert link.params == {
        "account": account.stripe_account_id,
        "refresh_url": "https://market.test/payments/connect/refresh/",
        "return_url": "https://market.test/payments/connect/return/",
        "type": "account_onboarding",
    }
    assert url.startswith(f"https://connect.stripe.test/setup/e/{account.stripe_account_id}/")


def test_the_refresh_url_makes_a_new_link_for_the_same_account(fake_stripe, provider_a, client):
    first = provider_onboarding_link_create(provider=provider_a)
    client.force_login(provider_a)

    response = client.get("/payments/connect/refresh/")

    assert response.status_code == 302
    assert response["Location"] != first
    assert response["Location"].startswith("https://connect.stripe.test/setup/e/acct_fake")
    assert len(fake_stripe.calls("POST", "/v1/accounts")) == 1
    assert len(fake_stripe.calls("POST", "/v1/account_links")) == 2


def test_account_updated_toggles_payout_eligibility_and_ignores_older_states(
    fake_stripe, onboard, hooks, provider_a
):
    account_id = onboard(provider_a, created=1_000)
    account = ProviderAccount.objects.get(provider=provider_a)
    assert account.payout_eligible and account.state_version == 1_000

    disabled = fake_stripe.update_account(
        account_id,
        payouts_enabled=False,
        requirements={"past_due": ["external_account"], "disabled_reason": "requirements.past_due"},
    )
    hooks(fake_stripe.event("account.updated", disabled, account=account_id, created=2_000))
    account.refresh_from_db()
    assert not account.payout_eligible
    assert account.requirements_past_due == ["external_account"]
    assert account.disabled_reason == "requirements.past_due"

    # An older event delivered late changes nothing.
    stale = dict(
        disabled, payouts_enabled=True, requirements={"past_due": [], "disabled_reason": None}
    )
    hooks(fake_stripe.event("account.updated", stale, account=account_id, created=1_500))
    account.refresh_from_db()
    assert not account.payout_eligible and account.state_version == 2_000


# --- Checkout and transfers -----------------------------------------------------------------


def test_checkout_session_carries_the_quote_lines_and_the_transfer_group(
    fake_stripe, checkout_order, buyer
):
    order = checkout_order()

    [call] = fake_stripe.calls("POST", "/v1/checkout/sessions")
    assert call.idempotency_key == f"order-{order.pk}-checkout-session"
    assert call.params["mode"] == "payment"
    assert call.params["line_items"] == [
        {
            "price_data": {
                "currency": "usd",
                "unit_amount": "400",
                "product_data": {"name": "dataset version dv-a: 2 training samples"},
            },
            "quantity": "1",
        },
        {
            "price_data": {
                "currency": "usd",
                "unit_amount": "200",
                "product_data": {"name": "dataset version dv-b: 1 training samples"},
            },
            "quantity": "1",
        },
    ]
    assert call.params["payment_intent_data"] == {
        "transfer_group": f"order_{order.pk}",
        "metadata": {"order_id": str(order.pk)},
    }
    assert call.params["metadata"] == {"order_id": str(order.pk)}
    assert call.params["client_reference_id"] == str(order.pk)
    assert call.params["customer_email"] == "buyer@example.com"
    assert call.params["success_url"] == (
        f"https://market.test/payments/orders/{order.pk}/success/?session_id={{CHECKOUT_SESSION_ID}}"
    )
    assert call.params["cancel_url"] == f"https://market.test/payments/orders/{order.pk}/"
    assert order.checkout_session_id.startswith("cs_test_fake")
    assert order.checkout_url == f"https://checkout.stripe.test/c/pay/{order.checkout_session_id}"


def test_a_completed_checkout_pays_the_order_and_transfers_to_each_provider(
    fake_stripe, onboard, pay, checkout_order, buyer, provider_a, provider_b
):
    acct_a, acct_b = onboard(provider_a), onboard(provider_b)
    order = checkout_order()

    pay(order)

    order.refresh_from_db()
    charge = charge_of(fake_stripe, order)
    assert order.status == Order.Status.PAID
    assert order.charge_id == charge["id"] and order.payment_intent_id == charge["payment_intent"]
    assert Entitlement.objects.filter(order=order, buyer=buyer, revoked_at=None).exists()
    calls = {c.params["destination"]: c for c in fake_stripe.calls("POST", TRANSFERS)}
    assert set(calls) == {acct_a, acct_b}
    line_a = line_of(order, provider_a)
    assert calls[acct_a].params == {
        "amount": "320",
        "currency": "usd",
        "destination": acct_a,
        "transfer_group": f"order_{order.pk}",
        "source_transaction": charge["id"],
        "metadata": {
            "order_id": str(order.pk),
            "payout_line_id": str(line_a.pk),
            "provider_id": str(provider_a.pk),
        },
    }
    assert calls[acct_a].idempotency_key == f"payout-line-{line_a.pk}-transfer"
    assert calls[acct_b].params["amount"] == "160"
    assert (line_a.status, line_a.transferred_amount, line_a.attempts) == ("transferred", 320, 1)
    assert line_a.stripe_transfer_id == fake_stripe.objects[line_a.stripe_transfer_id]["id"]
    assert provider_ledger_summary(provider=provider_a, currency="usd").owed == 0
    assert provider_ledger_summary(provider=provider_b, currency="usd").transferred == 160
    platform = platform_ledger_summary(currency="usd")
    assert (platform.cash, platform.fee_revenue, platform.owed_to_providers) == (120, 120, 0)


def test_a_duplicate_event_is_stored_once_and_booked_once(
    fake_stripe, onboard, hooks, checkout_order, provider_a, provider_b
):
    onboard(provider_a), onboard(provider_b)
    order = checkout_order()
    session = fake_stripe.complete_checkout(order.checkout_session_id)
    event = fake_stripe.event("checkout.session.completed", session)

    first, second = hooks(event), hooks(event)

    assert first.json() == {"received": event["id"], "duplicate": False}
    assert second.json() == {"received": event["id"], "duplicate": True}
    assert WebhookEvent.objects.filter(event_id=event["id"]).count() == 1
    assert WebhookEvent.objects.get(event_id=event["id"]).status == "processed"
    assert len(fake_stripe.calls("POST", TRANSFERS)) == 2
    assert LedgerTransaction.objects.filter(kind="transfer").count() == 2
    assert LedgerTransaction.objects.filter(kind="buyer_payment").count() == 1


def test_a_replayed_event_under_a_new_id_changes_nothing(
    fake_stripe, onboard, pay, hooks, checkout_order, provider_a, provider_b
):
    onboard(provider_a), onboard(provider_b)
    order = checkout_order()
    session = pay(order)

    hooks(fake_stripe.event("checkout.session.completed", session))

    assert WebhookEvent.objects.filter(type="checkout.session.completed").count() == 2
    assert len(fake_stripe.calls("POST", TRANSFERS)) == 2
    assert LedgerTransaction.objects.count() == 5


def test_the_success_page_and_the_webhook_confirm_through_the_same_service(
    fake_stripe,
    onboard,
    hooks,
    checkout_order,
    client,
    buyer,
    provider_a,
    provider_b,
    django_capture_on_commit_callbacks,
):
    onboard(provider_a), onboard(provider_b)
    order = checkout_order()
    session = fake_stripe.complete_checkout(order.checkout_session_id)
    client.force_login(buyer)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(
            f"/payments/orders/{order.pk}/success/?session_id={order.checkout_session_id}"
        )
    hooks(fake_stripe.event("checkout.session.completed", session))

    assert response.status_code == 302
    assert response["Location"] == f"/payments/orders/{order.pk}/"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert LedgerTransaction.objects.filter(kind="buyer_payment").count() == 1
    assert len(fake_stripe.calls("POST", TRANSFERS)) == 2


def test_an_unpaid_session_leaves_the_order_pending(fake_stripe, checkout_order):
    order = checkout_order()

    order = order_confirm_checkout(session_id=order.checkout_session_id)

    assert order.status == Order.Status.PENDING
    assert LedgerTransaction.objects.count() == 0
    [fetch] = fake_stripe.calls("GET", f"/v1/checkout/sessions/{order.checkout_session_id}")
    assert fetch.params == {"expand": ["payment_intent"]}


def test_lines_of_a_provider_without_an_eligible_account_wait_until_account_updated(
    fake_stripe, onboard, pay, hooks, checkout_order, provider_a, provider_b
):
    onboard(provider_a)
    acct_b = onboard(provider_b, eligible=False)
    order = checkout_order()
    pay(order)

    assert line_of(order, provider_b).status == "pending"
    assert [c.params["destination"] for c in fake_stripe.calls("POST", TRANSFERS)] != [acct_b]
    assert len(fake_stripe.calls("POST", TRANSFERS)) == 1

    account = fake_stripe.update_account(
        acct_b,
        charges_enabled=True,
        payouts_enabled=True,
        requirements={"currently_due": [], "past_due": [], "disabled_reason": None},
    )
    hooks(fake_stripe.event("account.updated", account, account=acct_b))

    line_b = line_of(order, provider_b)
    assert (line_b.status, line_b.transferred_amount) == ("transferred", 160)
    assert fake_stripe.calls("POST", TRANSFERS)[-1].params["destination"] == acct_b


# --- Failing transfers ----------------------------------------------------------------------


def test_a_transfer_whose_response_was_lost_is_retried_with_the_same_key(
    fake_stripe, onboard, pay, checkout_order, provider_a, provider_b
):
    onboard(provider_a)
    onboard(provider_b, eligible=False)
    fake_stripe.drop_next("POST", TRANSFERS)  # Stripe makes the transfer; the answer is lost
    order = checkout_order()

    pay(order)

    line = line_of(order, provider_a)
    calls = fake_stripe.calls("POST", TRANSFERS)
    assert [c.idempotency_key for c in calls] == [f"payout-line-{line.pk}-transfer"] * 2
    transfers = [o for o in fake_stripe.objects.values() if o["object"] == "transfer"]
    assert len(transfers) == 1  # one transfer at Stripe, not two
    assert (line.status, line.attempts, line.stripe_transfer_id) == (
        "transferred",
        2,
        transfers[0]["id"],
    )
    assert LedgerTransaction.objects.filter(kind="transfer", payout_line=line).count() == 1


def test_a_declined_transfer_is_recorded_and_retried_under_the_next_key(
    fake_stripe, onboard, pay, checkout_order, provider_a, provider_b
):
    onboard(provider_a)
    onboard(provider_b, eligible=False)
    fake_stripe.fail_next(
        "POST",
        TRANSFERS,
        code="balance_insufficient",
        message="Insufficient funds in Stripe account.",
    )
    order = checkout_order()

    pay(order)

    line = line_of(order, provider_a)
    calls = fake_stripe.calls("POST", TRANSFERS)
    # Stripe saved the 400 under the first key, so the retry uses the next generation.
    assert [c.idempotency_key for c in calls] == [
        f"payout-line-{line.pk}-transfer",
        f"payout-line-{line.pk}-transfer-retry-1",
    ]
    assert calls[0].params == calls[1].params
    assert (line.status, line.attempts, line.key_generation) == ("transferred", 2, 1)
    assert provider_ledger_summary(provider=provider_a, currency="usd").owed == 0


def test_a_transfer_failing_every_time_stops_after_the_attempt_limit(
    fake_stripe, onboard, pay, checkout_order, provider_a, provider_b, settings
):
    settings.PAYMENTS_MAX_TRANSFER_ATTEMPTS = 3
    onboard(provider_a)
    onboard(provider_b, eligible=False)
    fake_stripe.fail_next(
        "POST",
        TRANSFERS,
        code="balance_insufficient",
        times=10,
        message="Insufficient funds in Stripe account.",
    )
    order = checkout_order()

    pay(order)

    line = line_of(order, provider_a)
    assert len(fake_stripe.calls("POST", TRANSFERS)) == 3
    assert (line.status, line.attempts) == ("failed", 3)
    assert "attempt 3 (declined" in line.last_error
    assert "balance_insufficient" in line.last_error
    assert provider_ledger_summary(provider=provider_a, currency="usd").owed == 320
    assert LedgerTransaction.objects.filter(kind="transfer").count() == 0


def test_the_replayed_saved_error_is_what_a_same_key_retry_would_get(fake_stripe, settings):
    """The fake saves errors under the key, as Stripe does (which is why declines re-key)."""
    import stripe

    client = stripe.StripeClient(
        "sk_test_x", base_addresses={"api": fake_stripe.url}, max_network_retries=0
    )
    fake_stripe.fail_next("POST", TRANSFERS, code="balance_insufficient")
    params = {"amount": 5, "currency": "usd", "destination": "acct_x"}
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.transfers.create(params, {"idempotency_key": "same"})
        assert caught.value.code == "balance_insufficient"
    with pytest.raises(stripe.IdempotencyError):
        client.v1.transfers.create({**params, "amount": 6}, {"idempotency_key": "same"})


# --- Refunds --------------------------------------------------------------------------------


def test_a_refund_after_transfers_reverses_them_pro_rata_and_books_it(
    fake_stripe, onboard, pay, hooks, checkout_order, buyer, provider_a, provider_b
):
    onboard(provider_a), onboard(provider_b)
    order = checkout_order()
    pay(order)
    charge = charge_of(fake_stripe, order)
    line_a, line_b = line_of(order, provider_a), line_of(order, provider_b)

    hooks(fake_stripe.event("charge.refunded", fake_stripe.refund_charge(charge["id"], 300)))

    order.refresh_from_db()
    assert (order.status, order.amount_refunded) == ("partially_refunded", 300)
    refund = Refund.objects.get(order=order)
    assert (refund.amount, refund.fee_part, refund.providers_part) == (300, 60, 240)
    calls = {c.path: c for c in fake_stripe.calls("POST", REVERSALS)}
    call_a = calls[f"/v1/transfers/{line_a.stripe_transfer_id}/reversals"]
    assert call_a.params == {
        "amount": "160",
        "metadata": {
            "order_id": str(order.pk),
            "payout_line_id": str(line_a.pk),
            "refund_id": str(refund.pk),
        },
    }
    assert call_a.idempotency_key == f"payout-line-{line_a.pk}-reversal-300"
    assert calls[f"/v1/transfers/{line_b.stripe_transfer_id}/reversals"].params["amount"] == "80"
    assert fake_stripe.objects[line_a.stripe_transfer_id]["amount_reversed"] == 160
    assert sorted(TransferReversal.objects.values_list("amount", "status")) == [
        (80, "succeeded"),
        (160, "succeeded"),
    ]
    summary_a = provider_ledger_summary(provider=provider_a, currency="usd")
    assert (summary_a.earned, summary_a.refunded, summary_a.transferred, summary_a.reversed) == (
        320,
        160,
        320,
        160,
    )
    assert summary_a.owed == 0 and summary_a.paid_out == 160
    platform = platform_ledger_summary(currency="usd")
    assert (platform.cash, platform.net_fee_revenue, platform.owed_to_providers) == (60, 60, 0)
    assert Entitlement.objects.get(order=order).revoked_at is None

    # The rest is refunded: each provider gives back exactly what is left.
    hooks(fake_stripe.event("charge.refunded", fake_stripe.refund_charge(charge["id"], 300)))

    order.refresh_from_db()
    assert (order.status, order.amount_refunded) == ("refunded", 600)
    assert line_of(order, provider_a).status == "reversed"
    assert fake_stripe.objects[line_b.stripe_transfer_id]["reversed"] is True
    platform = platform_ledger_summary(currency="usd")
    assert (platform.cash, platform.net_fee_revenue, platform.owed_to_providers) == (0, 0, 0)
    assert Entitlement.objects.get(order=order).revoked_at is not None


def test_duplicate_and_out_of_order_refund_events_book_each_step_once(
    fake_stripe, onboard, pay, hooks, checkout_order, provider_a, provider_b
):
    onboard(provider_a), onboard(provider_b)
    order = checkout_order()
    pay(order)
    charge_id = charge_of(fake_stripe, order)["id"]
    partial = fake_stripe.event(
        "charge.refunded", fake_stripe.refund_charge(charge_id, 300), created=100
    )
    full = fake_stripe.event(
        "charge.refunded", fake_stripe.refund_charge(charge_id, 300), created=200
    )

    hooks(full)
    hooks(partial)  # older, delivered late
    hooks(full)  # duplicate delivery

    order.refresh_from_db()
    assert (order.status, order.amount_refunded) == ("refunded", 600)
    assert list(Refund.objects.values_list("amount", "cumulative_amount")) == [(600, 600)]
    assert len(fake_stripe.calls("POST", REVERSALS)) == 2
    assert platform_ledger_summary(currency="usd").cash == 0


def test_a_refund_that_overtakes_checkout_completed_confirms_the_payment_first(
    fake_stripe, onboard, hooks, checkout_order, provider_a, provider_b
):
    onboard(provider_a), onboard(provider_b)
    order = checkout_order()
    session = fake_stripe.complete_checkout(order.checkout_session_id)
    charge = fake_stripe.refund_charge(charge_of(fake_stripe, order)["id"], 600)

    hooks(fake_stripe.event("charge.refunded", charge, created=200))
    hooks(fake_stripe.event("checkout.session.completed", session, created=100))

    order.refresh_from_db()
    assert (order.status, order.amount_refunded) == ("refunded", 600)
    # Refunded in full before any transfer ran: the lines are cancelled, nothing is sent.
    assert sorted(PayoutLine.objects.filter(order=order).values_list("status", flat=True)) == [
        "cancelled",
        "cancelled",
    ]
    assert fake_stripe.calls("POST", TRANSFERS) == []
    assert WebhookEvent.objects.filter(status="processed").count() == 4  # 2 accounts + 2 here
    assert platform_ledger_summary(currency="usd").cash == 0


def test_a_refund_before_the_transfer_just_sends_less(
    fake_stripe, onboard, pay, hooks, checkout_order, provider_a, provider_b
):
    onboard(provider_a)
    acct_b = onboard(provider_b, eligible=False)
    order = checkout_order()
    pay(order)
    charge_id = charge_of(fake_stripe, order)["id"]

    hooks(fake_stripe.event("charge.refunded", fake_stripe.refund_charge(charge_id, 300)))
    line_b = line_of(order, provider_b)
    assert (line_b.status, line_b.amount_refunded, line_b.amount_due) == ("pending", 80, 80)
    assert not TransferReversal.objects.filter(payout_line=line_b).exists()

    account = fake_stripe.update_account(
        acct_b,
        charges_enabled=True,
        payouts_enabled=True,
        requirements={"currently_due": [], "past_due": [], "disabled_reason": None},
    )
    hooks(fake_stripe.event("account.updated", account, account=acct_b))

    line_b.refresh_from_db()
    assert (line_b.status, line_b.transferred_amount) == ("transferred", 80)
    assert fake_stripe.calls("POST", TRANSFERS)[-1].params["amount"] == "80"
    assert provider_ledger_summary(provider=provider_b, currency="usd").owed == 0


def test_a_failed_reversal_is_retried_and_recorded(
    fake_stripe, onboard, pay, hooks, checkout_order, provider_a, provider_b
):
    onboard(provider_a)
    onboard(provider_b, eligible=False)
    order = checkout_order()
    pay(order)
    fake_stripe.drop_next("POST", REVERSALS.pattern)

    hooks(
        fake_stripe.event(
            "charge.refunded", fake_stripe.refund_charge(charge_of(fake_stripe, order)["id"], 600)
        )
    )

    reversal = TransferReversal.objects.get()
    assert (reversal.status, reversal.attempts, reversal.amount) == ("succeeded", 2, 320)
    keys = [c.idempotency_key for c in fake_stripe.calls("POST", REVERSALS)]
    assert keys == [reversal.idempotency_key] * 2
    assert provider_ledger_summary(provider=provider_a, currency="usd").owed == 0


# --- Payout reports and webhook hygiene -------------------------------------------------------


def test_payout_paid_and_failed_update_the_providers_payout_report(
    fake_stripe, onboard, hooks, provider_a
):
    account_id = onboard(provider_a)
    payout = fake_stripe.payout(status="paid", amount=320, arrival_date=1_800_000_000)

    hooks(fake_stripe.event("payout.paid", payout, account=account_id, created=1_000))
    record = ProviderPayout.objects.get(stripe_payout_id=payout["id"])
    assert (record.provider, record.amount, record.status) == (provider_a, 320, "paid")
    assert record.arrival_date.year == 2027

    failed = dict(
        payout,
        status="failed",
        failure_code="account_closed",
        failure_message="The bank account has been closed.",
    )
    hooks(fake_stripe.event("payout.failed", failed, account=account_id, created=2_000))
    hooks(fake_stripe.event("payout.paid", payout, account=account_id, created=1_000))  # replay

    record.refresh_from_db()
    assert (record.status, record.failure_code) == ("failed", "account_closed")
    assert ProviderPayout.objects.count() == 1


def test_a_bad_signature_is_refused_and_nothing_is_stored(fake_stripe, client):
    event = fake_stripe.event("checkout.session.completed", {"id": "cs_x", "object": "x"})

    bad = deliver(client, event, secret="whsec_wrong")
    old = deliver(client, event, timestamp=int(time.time()) - 3600)
    unsigned = client.post(WEBHOOK_URL, data="{}", content_type="application/json")

    assert [r.status_code for r in (bad, old, unsigned)] == [400, 400, 400]
    assert bad.json()["error"]["code"] == "bad_signature"
    assert WebhookEvent.objects.count() == 0


def test_webhooks_are_refused_when_no_secret_is_configured(fake_stripe, client, settings):
    event = fake_stripe.event("payout.paid", {"id": "po_x"})
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = deliver(client, event)

    assert response.status_code == 503
    assert WebhookEvent.objects.count() == 0


def test_an_unhandled_event_type_is_stored_and_marked_ignored(fake_stripe, hooks):
    event = fake_stripe.event("plan.created", fake_stripe.fixtures["event"]["data"]["object"])

    assert hooks(event).status_code == 200
    assert WebhookEvent.objects.get(event_id=event["id"]).status == "ignored"


def test_a_failing_event_is_retried_a_bounded_number_of_times_and_recorded(
    fake_stripe, hooks, settings
):
    settings.PAYMENTS_MAX_WEBHOOK_ATTEMPTS = 3
    charge = dict(fake_stripe.fixtures["charge"], id="ch_unknown", amount_refunded=100)

    hooks(fake_stripe.event("charge.refunded", charge))

    event = WebhookEvent.objects.get(type="charge.refunded")
    assert (event.status, event.attempts) == ("failed", 3)
    assert "charge 'ch_unknown' belongs to no order" in event.last_error
    assert Refund.objects.count() == 0


def test_a_paid_session_whose_id_was_never_saved_is_matched_by_its_metadata(
    fake_stripe, onboard, hooks, checkout_order, provider_a, provider_b
):
    onboard(provider_a), onboard(provider_b)
    order = checkout_order()
    session_id = order.checkout_session_id
    Order.objects.filter(pk=order.pk).update(checkout_session_id=None, checkout_url="")

    hooks(
        fake_stripe.event("checkout.session.completed", fake_stripe.complete_checkout(session_id))
    )

    order.refresh_from_db()
    assert (order.status, order.checkout_session_id) == ("paid", session_id)


def test_the_provider_report_follows_transfers_refunds_and_bank_payouts(
    fake_stripe, onboard, pay, hooks, checkout_order, client, provider_a, provider_b
):
    acct_a = onboard(provider_a)
    onboard(provider_b)
    order = checkout_order()
    pay(order)
    charge_id = charge_of(fake_stripe, order)["id"]
    hooks(fake_stripe.event("charge.refunded", fake_stripe.refund_charge(charge_id, 300)))
    payout = fake_stripe.payout(status="paid", amount=160)
    hooks(fake_stripe.event("payout.paid", payout, account=acct_a))
    client.force_login(provider_a)

    html = client.get("/payments/payouts/").content.decode()
    rows = list(client.get("/payments/payouts.csv").streaming_content)

    assert '<p class="stat-value" data-stat="earned">3.20 USD</p>' in html
    assert '<p class="stat-value" data-stat="paid-out">1.60 USD</p>' in html
    assert '<p class="stat-value" data-stat="owed">0.00 USD</p>' in html
    assert 'data-connect="eligible"' in html
    periods = html.split('data-table="periods"')[1].split("</table>")[0]
    assert periods.count("3.20 USD") == 2 and periods.count("1.60 USD") == 2
    payouts = html.split('data-table="payouts"')[1].split("</table>")[0]
    assert payout["id"] in payouts and "1.60 USD" in payouts and "paid" in payouts
    line = line_of(order, provider_a)
    order.refresh_from_db()
    assert rows[1].decode().strip() == (
        f"{order.pk},{order.paid_at.isoformat()},usd,dataset version dv-a,dv-a,"
        "2,400,80,320,160,transferred,320,"
        f"{line.stripe_transfer_id},"
    )


def test_orders_paid_in_test_mode_are_never_transferred_by_stripe(
    fake_stripe, onboard, provider_a, provider_b, buyer, sale_quote, settings
):
    from payments.services.orders import (
        order_checkout_start,
        order_create_from_quote,
        order_test_payment_confirm,
    )
    from payments.services.payouts import TransferOutcome, payout_line_transfer

    api_key = settings.STRIPE_API_KEY
    settings.STRIPE_API_KEY = ""  # the demo ran in test mode first
    order = order_create_from_quote(quote_id=sale_quote.pk, buyer=buyer)
    order_checkout_start(order_id=order.pk, buyer=buyer)
    order_test_payment_confirm(order_id=order.pk, buyer=buyer)
    settings.STRIPE_API_KEY = api_key
    onboard(provider_a)

    outcome = payout_line_transfer(payout_line_id=line_of(order, provider_a).pk)

    assert outcome == TransferOutcome.NOT_ELIGIBLE
    assert fake_stripe.calls("POST", TRANSFERS) == []
    assert line_of(order, provider_a).status == "pending"


def test_the_payouts_page_asks_to_finish_onboarding_until_stripe_is_satisfied(
    fake_stripe, onboard, client, provider_a
):
    client.force_login(provider_a)
    before = client.get("/payments/payouts/").content.decode()
    onboard(provider_a, eligible=False)

    after = client.get("/payments/payouts/").content.decode()

    assert 'data-connect="onboarding"' in before and "Set up payouts with Stripe" in before
    assert "Continue Stripe onboarding" in after
    assert "external_account" in after  # from the account's requirements.currently_due


@pytest.mark.parametrize(
    "body",
    [
        "[1, 2]",
        "42",
        '"text"',
        '{"id": "evt_1", "type": "checkout.session.completed", "created": "abc", '
        '"data": {"object": {}}}',
        '{"id": ["evt_1"], "type": "x", "created": 1, "data": {"object": {}}}',
        '{"id": "evt_1", "type": "x", "created": true, "data": {"object": {}}}',
        '{"id": "evt_1", "type": "x", "created": 1e400, "data": {"object": {}}}',
        '{"id": "evt_1", "type": "x", "created": 1, "data": {"object": {"a": "\\u0000"}}}',
    ],
)
def test_a_validly_signed_malformed_body_is_a_400_and_nothing_is_stored(fake_stripe, client, body):
    from tests.fakes.stripe_api import sign
    from tests.payments.conftest import WEBHOOK_SECRET

    response = client.post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body, WEBHOOK_SECRET),
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "webhook_payload"
    assert WebhookEvent.objects.count() == 0
