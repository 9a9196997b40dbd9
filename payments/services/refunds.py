"""Refunds: book a buyer refund and take the providers' share back pro rata.

Stripe reports refunds as the charge's cumulative ``amount_refunded`` (``charge.refunded``).
Each new cumulative amount is one ``Refund`` step (unique per order and cumulative amount), so
duplicate, replayed and out-of-order events change nothing twice.

Split of a step of ``D`` minor units, for an order of total T with fee F: the providers'
cumulative part is floor(A x (T - F) / T) at cumulative refund A, so a full refund returns
exactly the net; the step's fee part is the rest. The providers' part is split over the
payout lines in proportion to what each still holds (``allocate_pro_rata``). Lines already
transferred get a Stripe transfer reversal; lines not yet transferred just send less.
"""

from __future__ import annotations

import enum
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from marketplace.services.access import access_revoke_for_source
from payments import conf
from payments.allocation import allocate_pro_rata
from payments.errors import OrderStateError, PaymentMismatchError
from payments.gateways import get_gateway
from payments.gateways.base import DeclinedError, GatewayError
from payments.lock_objects import (
    order_qs_select_for_update,
    payout_line_qs_select_for_update,
    transfer_reversal_qs_select_for_update,
)
from payments.models import (
    Entitlement,
    LedgerAccount,
    LedgerTransaction,
    Order,
    PayoutLine,
    Refund,
    TransferReversal,
)
from payments.services.ledger import EntrySpec, ledger_account_get, ledger_transaction_post
from payments.services.orders import access_source

Kind = LedgerAccount.Kind
REFUNDABLE = (Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED, Order.Status.REFUNDED)


def providers_part_of(*, order: Order, cumulative: int) -> int:
    """The providers' share of a cumulative refund of ``cumulative`` minor units."""
    return cumulative * order.net // order.total


@transaction.atomic
def order_refund_record(
    *, order_id: int, cumulative_refunded: int, source: str, now: datetime | None = None
) -> Refund | None:
    """Book the refund step that brings the order's refunded amount to ``cumulative_refunded``.

    Returns None when that amount is already booked (or a larger one is).
    """
    order = order_qs_select_for_update().filter(pk=order_id).first()
    if order is None:
        raise PaymentMismatchError(f"order {order_id} does not exist")
    if order.status not in REFUNDABLE:
        raise OrderStateError(f"order {order_id} is {order.status}; only paid orders are refunded")
    if isinstance(cumulative_refunded, bool) or not isinstance(cumulative_refunded, int):
        raise PaymentMismatchError(f"order {order_id}: refunded amount must be an int")
    if cumulative_refunded > order.total:
        raise PaymentMismatchError(
            f"order {order_id}: refunded amount {cumulative_refunded} "
            f"exceeds the total {order.total}"
        )
    if cumulative_refunded <= order.amount_refunded:
        return None
    now = now or timezone.now()
    previous = order.amount_refunded
    step = cumulative_refunded - previous
    providers_part = providers_part_of(order=order, cumulative=cumulative_refunded) - (
        providers_part_of(order=order, cumulative=previous)
    )
    refund = Refund.objects.create(
        order=order,
        amount=step,
        cumulative_amount=cumulative_refunded,
        fee_part=step - providers_part,
        providers_part=providers_part,
        source=source,
        created_at=now,
    )

    lines = list(payout_line_qs_select_for_update().filter(order=order).order_by("pk"))
    shares = allocate_pro_rata(
        providers_part,
        {line.pk: line.amount - line.amount_refunded for line in lines},
    )
    reversals = _apply_shares(refund, lines, shares)
    _post_refund_ledger(order, refund, lines, shares, now)

    order.amount_refunded = cumulative_refunded
    fully = cumulative_refunded == order.total
    order.status = Order.Status.REFUNDED if fully else Order.Status.PARTIALLY_REFUNDED
    order.save(update_fields=["amount_refunded", "status"])
    if fully:
        Entitlement.objects.filter(order=order, revoked_at__isnull=True).update(revoked_at=now)
        access_revoke_for_source(source=access_source(order), revoked_at=now)

    if reversals and get_gateway().moves_money:
        from payments.tasks import transfer_reversal_task

        for reversal in reversals:
            transaction.on_commit(
                lambda pk=reversal.pk: transfer_reversal_task.delay(pk), robust=True
            )
    return refund


def _apply_shares(
    refund: Refund, lines: list[PayoutLine], shares: dict[int, int]
) -> list[TransferReversal]:
    reversals = []
    for line in lines:
        share = shares.get(line.pk, 0)
        if share == 0:
            continue
        line.amount_refunded += share
        if line.status == PayoutLine.Status.TRANSFERRED:
            reversals.append(
                TransferReversal.objects.create(
                    payout_line=line,
                    refund=refund,
                    amount=share,
                    idempotency_key=(f"payout-line-{line.pk}-reversal-{refund.cumulative_amount}"),
                )
            )
        elif line.amount_due == 0 and line.status in (
            PayoutLine.Status.PENDING,
            PayoutLine.Status.FAILED,
        ):
            line.status = PayoutLine.Status.CANCELLED
        line.save(update_fields=["amount_refunded", "status"])
    return reversals


def _post_refund_ledger(
    order: Order,
    refund: Refund,
    lines: list[PayoutLine],
    shares: dict[int, int],
    now: datetime,
) -> None:
    currency = order.currency
    entries = [
        EntrySpec(ledger_account_get(kind=Kind.PLATFORM_CASH, currency=currency), -refund.amount)
    ]
    if refund.fee_part:
        entries.append(
            EntrySpec(ledger_account_get(kind=Kind.FEE_REFUNDS, currency=currency), refund.fee_part)
        )
    for line in lines:
        if shares.get(line.pk):
            payable = ledger_account_get(
                kind=Kind.PROVIDER_PAYABLE, currency=currency, provider=line.provider
            )
            entries.append(EntrySpec(payable, shares[line.pk]))
    ledger_transaction_post(
        kind=LedgerTransaction.Kind.REFUND,
        idempotency_key=f"order-{order.pk}-refund-{refund.cumulative_amount}",
        entries=entries,
        order=order,
        refund=refund,
        memo=f"Refund of {refund.amount} on order {order.pk} ({refund.source})",
        posted_at=now,
    )


class ReversalOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    GAVE_UP = "gave_up"
    NOTHING_TO_DO = "nothing_to_do"


@transaction.atomic
def transfer_reversal_execute(*, reversal_id: int, now: datetime | None = None) -> ReversalOutcome:
    """Reverse part of a transfer at Stripe and book the money coming back. Retries follow
    the transfer rules (same key when the outcome is unknown, a new key after a decline)."""
    max_attempts = conf.max_transfer_attempts()
    reversal = (
        transfer_reversal_qs_select_for_update()
        .select_related("payout_line", "payout_line__order")
        .filter(pk=reversal_id)
        .first()
    )
    if reversal is None or reversal.status == TransferReversal.Status.SUCCEEDED:
        return ReversalOutcome.NOTHING_TO_DO
    if reversal.attempts >= max_attempts:
        return ReversalOutcome.GAVE_UP
    line = payout_line_qs_select_for_update().get(pk=reversal.payout_line_id)
    order = reversal.payout_line.order
    reversal.attempts += 1
    try:
        reversal_id_at_stripe = get_gateway().transfer_reversal_create(
            transfer_id=line.stripe_transfer_id,
            amount=reversal.amount,
            metadata={
                "order_id": str(order.pk),
                "payout_line_id": str(line.pk),
                "refund_id": str(reversal.refund_id),
            },
            idempotency_key=reversal.idempotency_key,
        )
    except GatewayError as exc:
        reversal.status = TransferReversal.Status.FAILED
        reversal.last_error = f"attempt {reversal.attempts} (key {reversal.idempotency_key}): {exc}"
        if isinstance(exc, DeclinedError):
            base = f"payout-line-{line.pk}-reversal-{reversal.refund.cumulative_amount}"
            reversal.idempotency_key = f"{base}-retry-{reversal.attempts}"
        reversal.save()
        return (
            ReversalOutcome.GAVE_UP if reversal.attempts >= max_attempts else ReversalOutcome.RETRY
        )

    now = now or timezone.now()
    reversal.status = TransferReversal.Status.SUCCEEDED
    reversal.stripe_reversal_id = reversal_id_at_stripe
    reversal.last_error = ""
    reversal.save()
    reversed_total = sum(
        line.reversals.filter(status=TransferReversal.Status.SUCCEEDED).values_list(
            "amount", flat=True
        )
    )
    if reversed_total >= line.transferred_amount:
        line.status = PayoutLine.Status.REVERSED
        line.save(update_fields=["status"])
    currency = line.currency
    ledger_transaction_post(
        kind=LedgerTransaction.Kind.REVERSAL,
        idempotency_key=f"transfer-reversal-{reversal.pk}",
        entries=[
            EntrySpec(
                ledger_account_get(kind=Kind.PLATFORM_CASH, currency=currency), reversal.amount
            ),
            EntrySpec(
                ledger_account_get(
                    kind=Kind.PROVIDER_PAYABLE, currency=currency, provider=line.provider
                ),
                -reversal.amount,
            ),
        ],
        order=order,
        payout_line=line,
        refund=reversal.refund,
        memo=f"Reversal {reversal_id_at_stripe} of transfer {line.stripe_transfer_id}",
        posted_at=now,
    )
    return ReversalOutcome.SUCCEEDED
