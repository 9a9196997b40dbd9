"""Orders: accept a quote, start checkout, and book a confirmed payment.

Every confirmation path ends in ``order_mark_paid``: the Stripe webhook
(``checkout.session.completed``), the Stripe success page (both via ``order_confirm_checkout``,
which asks Stripe for the session) and the test-mode checkout page
(``order_test_payment_confirm``). It is idempotent: a paid order is returned unchanged.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from marketplace.services.access import access_grant_many
from payments import conf
from payments.errors import (
    NotAllowedError,
    NotYoursError,
    OrderStateError,
    PaymentMismatchError,
    QuoteExpiredError,
    QuoteNotOpenError,
)
from payments.gateways import get_gateway
from payments.gateways.base import CheckoutLineItem, CheckoutStart, CheckoutState
from payments.gateways.test_gateway import TestGateway
from payments.lock_objects import order_qs_select_for_update, quote_qs_select_for_update
from payments.models import (
    Entitlement,
    LedgerAccount,
    LedgerTransaction,
    Order,
    OrderLine,
    PayoutLine,
    Quote,
)
from payments.selectors.names import dataset_version_names
from payments.services.ledger import EntrySpec, ledger_account_get, ledger_transaction_post

MAX_CHECKOUT_LINE_ITEMS = 100  # Stripe Checkout's limit per session


@transaction.atomic
def order_create_from_quote(
    *, quote_id: int, buyer: AbstractBaseUser, now: datetime | None = None
) -> Order:
    """Accept an open, unexpired quote of ``buyer`` and open a pending order for it.

    The quote becomes immutable (accepted); the order keeps a snapshot of its lines.
    """
    now = now or timezone.now()
    quote = quote_qs_select_for_update().filter(pk=quote_id).first()
    if quote is None or quote.buyer_id != buyer.pk:
        raise NotYoursError(f"quote {quote_id} does not exist or is not yours")
    if quote.status != Quote.Status.OPEN:
        raise QuoteNotOpenError(f"quote {quote_id} was already accepted")
    if quote.expires_at <= now:
        raise QuoteExpiredError(
            f"quote {quote_id} expired at {quote.expires_at.isoformat()}; ask for a new quote"
        )
    quote.status = Quote.Status.ACCEPTED
    quote.accepted_at = now
    quote.save(update_fields=["status", "accepted_at"])

    order = Order.objects.create(
        buyer=buyer,
        quote=quote,
        gateway=get_gateway().name,
        currency=quote.currency,
        total=quote.total,
        fee=quote.fee,
        formula_version=quote.formula_version,
        quote_snapshot=quote.lines,
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            sample_ref=line["sample_id"],
            dataset_version_ref=line["dataset_version_id"],
            listing_ref=line["listing_id"],
            provider_id=int(line["provider_id"]),
            token_count=line["token_count"],
            value=line["value"],
            price=line["price"],
            gross=line["gross"],
            fee=line["fee"],
            payout=line["payout"],
        )
        for line in quote.lines["samples"]
    )
    return order


def order_checkout_line_items(*, order: Order) -> list[CheckoutLineItem]:
    """One line per dataset version, named, at its gross from the quote: the lines add up to
    the order total exactly, as the provider reports do."""
    versions = order.quote_snapshot["dataset_versions"]
    names = dataset_version_names(refs=[line["dataset_version_id"] for line in versions])
    items = [
        CheckoutLineItem(
            name=f"{names[line['dataset_version_id']]}: {line['samples']:,} training samples",
            amount=line["gross"],
        )
        for line in versions
        if line["gross"] > 0
    ]
    if len(items) > MAX_CHECKOUT_LINE_ITEMS:
        count = sum(line["samples"] for line in versions)
        items = [CheckoutLineItem(name=f"{count:,} training samples", amount=order.total)]
    return items


@transaction.atomic
def order_checkout_start(*, order_id: int, buyer: AbstractBaseUser) -> CheckoutStart:
    """Open a checkout session for a pending order; returns where to send the buyer."""
    order = order_qs_select_for_update().filter(pk=order_id).first()
    if order is None or order.buyer_id != buyer.pk:
        raise NotYoursError(f"order {order_id} does not exist or is not yours")
    if order.status != Order.Status.PENDING:
        raise OrderStateError(f"order {order_id} is {order.status}, not awaiting payment")
    gateway = get_gateway()
    if gateway.name != order.gateway:
        raise OrderStateError(
            f"order {order_id} was opened with the {order.gateway} gateway, "
            f"but payments now run on {gateway.name}"
        )
    success_path = reverse("payments:checkout_success", kwargs={"order_id": order.pk})
    start = gateway.checkout_start(
        order_ref=str(order.pk),
        transfer_group=order.transfer_group,
        currency=order.currency,
        line_items=order_checkout_line_items(order=order),
        customer_email=getattr(buyer, "email", "") or "",
        # Stripe replaces {CHECKOUT_SESSION_ID} with the session's id.
        success_url=conf.absolute_url(success_path) + "?session_id={CHECKOUT_SESSION_ID}",
        cancel_url=conf.absolute_url(
            reverse("payments:order_detail", kwargs={"order_id": order.pk})
        ),
        idempotency_key=f"order-{order.pk}-checkout-session",
    )
    order.checkout_session_id = start.session_id
    order.checkout_url = start.redirect_url
    order.save(update_fields=["checkout_session_id", "checkout_url"])
    return start


def order_confirm_checkout(*, session_id: str) -> Order:
    """Ask the gateway for the session's state and book the payment if it is paid.

    Used by the ``checkout.session.completed`` webhook and the success page alike.
    """
    state = get_gateway().checkout_fetch(session_id=session_id)
    order = Order.objects.filter(checkout_session_id=session_id).first()
    if order is None and state.order_ref.isdigit():
        # The session was created but saving its id was lost (crash, rollback): the
        # metadata names the order, which must not have another session.
        order = Order.objects.filter(pk=int(state.order_ref), checkout_session_id=None).first()
    if order is None:
        raise PaymentMismatchError(f"no order has checkout session {session_id!r}")
    if state.order_ref and state.order_ref != str(order.pk):
        raise PaymentMismatchError(
            f"checkout session {session_id!r} names order {state.order_ref}, "
            f"but belongs to order {order.pk}"
        )
    if not state.paid:
        return order
    return order_mark_paid(order_id=order.pk, payment=state)


def order_test_payment_confirm(*, order_id: int, buyer: AbstractBaseUser) -> Order:
    """The test-mode checkout page's "Pay" button: confirm like a completed Stripe checkout."""
    gateway = get_gateway()
    if not isinstance(gateway, TestGateway):
        raise NotAllowedError("test payments are only possible when Stripe is not configured")
    order = Order.objects.filter(pk=order_id, buyer=buyer).first()
    if order is None:
        raise NotYoursError(f"order {order_id} does not exist or is not yours")
    if order.gateway != Order.Gateway.TEST or not order.checkout_session_id:
        raise OrderStateError(f"order {order_id} has no test-mode checkout session")
    state = gateway.test_payment(
        session_id=order.checkout_session_id, amount_total=order.total, currency=order.currency
    )
    return order_mark_paid(order_id=order.pk, payment=state)


def access_source(order: Order) -> str:
    """The source of the marketplace access grants of ``order`` (revoked by a full refund)."""
    return f"order:{order.pk}"


def _access_grant(order: Order, now: datetime) -> None:
    """Let the buyer read the samples bought: one marketplace access grant per order line."""
    pairs = [
        (int(sample_ref), int(listing_ref))
        for sample_ref, listing_ref in order.lines.values_list("sample_ref", "listing_ref")
        if sample_ref.isdigit() and listing_ref.isdigit()
    ]
    access_grant_many(
        user_id=order.buyer_id,
        sample_listing_ids=pairs,
        source=access_source(order),
        granted_at=now,
    )


@transaction.atomic
def order_mark_paid(*, order_id: int, payment: CheckoutState, now: datetime | None = None) -> Order:
    """Book a confirmed payment once: order paid, entitlement, ledger, payout lines; then
    (after commit) one transfer task per payout line when the gateway moves money."""
    order = order_qs_select_for_update().filter(pk=order_id).first()
    if order is None:
        raise PaymentMismatchError(f"order {order_id} does not exist")
    if order.status != Order.Status.PENDING:
        return order  # already booked: duplicate webhook, replay or success-page reload
    _check_payment_matches(order, payment)
    now = now or timezone.now()

    order.status = Order.Status.PAID
    order.paid_at = now
    order.checkout_session_id = payment.session_id
    order.payment_intent_id = payment.payment_intent_id
    order.charge_id = payment.charge_id
    order.save(
        update_fields=["status", "paid_at", "checkout_session_id", "payment_intent_id", "charge_id"]
    )
    Entitlement.objects.create(buyer_id=order.buyer_id, order=order, granted_at=now)
    _access_grant(order, now)
    lines = _payout_lines_create(order)
    _post_payment_ledger(order, lines, now)

    if get_gateway().moves_money:
        from payments.tasks import payout_line_transfer_task

        for line in lines:
            transaction.on_commit(
                lambda pk=line.pk: payout_line_transfer_task.delay(pk), robust=True
            )
    return order


def _check_payment_matches(order: Order, payment: CheckoutState) -> None:
    where = f"order {order.pk}"
    if not payment.paid:
        raise PaymentMismatchError(f"{where}: checkout session {payment.session_id!r} is not paid")
    if order.checkout_session_id and payment.session_id != order.checkout_session_id:
        raise PaymentMismatchError(
            f"{where}: paid session {payment.session_id!r} is not the order's "
            f"session {order.checkout_session_id!r}"
        )
    if payment.amount_total != order.total or payment.currency.lower() != order.currency:
        raise PaymentMismatchError(
            f"{where}: expected {order.total} {order.currency}, the gateway reports "
            f"{payment.amount_total} {payment.currency or '?'}"
        )


def _payout_lines_create(order: Order) -> list[PayoutLine]:
    """One line per provider with a part of the order, with its gross, fee and payout."""
    providers = sorted(order.quote_snapshot["providers"], key=lambda line: int(line["provider_id"]))
    return [
        PayoutLine.objects.create(
            order=order,
            provider_id=int(line["provider_id"]),
            currency=order.currency,
            gross=line["gross"],
            fee=line["fee"],
            amount=line["amount"],
        )
        for line in providers
        if line["gross"] > 0
    ]


def _post_payment_ledger(order: Order, lines: list[PayoutLine], now: datetime) -> None:
    Kind = LedgerAccount.Kind
    currency = order.currency
    cash = ledger_account_get(kind=Kind.PLATFORM_CASH, currency=currency)
    clearing = ledger_account_get(kind=Kind.BUYER_CLEARING, currency=currency)
    ledger_transaction_post(
        kind=LedgerTransaction.Kind.BUYER_PAYMENT,
        idempotency_key=f"order-{order.pk}-buyer-payment",
        entries=[EntrySpec(cash, order.total), EntrySpec(clearing, -order.total)],
        order=order,
        memo=f"Buyer payment for order {order.pk} ({order.charge_id or order.checkout_session_id})",
        posted_at=now,
    )
    if order.fee > 0:
        revenue = ledger_account_get(kind=Kind.PLATFORM_FEE_REVENUE, currency=currency)
        ledger_transaction_post(
            kind=LedgerTransaction.Kind.PLATFORM_FEE,
            idempotency_key=f"order-{order.pk}-platform-fee",
            entries=[EntrySpec(clearing, order.fee), EntrySpec(revenue, -order.fee)],
            order=order,
            memo=f"Platform fee ({order.quote.fee_bps} bps) of order {order.pk}",
            posted_at=now,
        )
    provider_total = sum(line.amount for line in lines)
    if sum(line.fee for line in lines) != order.fee or provider_total != order.net:
        raise OrderStateError(
            f"order {order.pk}: provider lines hold fees {sum(line.fee for line in lines)} and "
            f"payouts {provider_total}; the order's fee is {order.fee} and net {order.net}"
        )
    lines = [line for line in lines if line.amount > 0]  # a ledger entry is never zero
    if lines:
        entries = [EntrySpec(clearing, provider_total)] + [
            EntrySpec(
                ledger_account_get(
                    kind=Kind.PROVIDER_PAYABLE, currency=currency, provider=line.provider
                ),
                -line.amount,
            )
            for line in lines
        ]
        ledger_transaction_post(
            kind=LedgerTransaction.Kind.PROVIDER_PAYABLE,
            idempotency_key=f"order-{order.pk}-provider-payable",
            entries=entries,
            order=order,
            memo=f"Owed to {len(lines)} provider(s) for order {order.pk}",
            posted_at=now,
        )
