"""Transfers to providers (separate charges and transfers), one per payout line.

Retry rules, because Stripe saves the first response of an idempotency key (errors included):

* outcome unknown (network error, 5xx, 429, in-flight 409): retry with the SAME key, so a
  transfer that did happen is returned instead of made twice;
* declined (4xx such as ``balance_insufficient``): nothing was created and Stripe would replay
  the error for that key, so the line moves to its next key generation
  (``payout-line-<id>-transfer-retry-<n>``).

Attempts are bounded (``PAYMENTS_MAX_TRANSFER_ATTEMPTS``) and each one is recorded on the line.
"""

from __future__ import annotations

import enum
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from payments import conf
from payments.gateways import get_gateway
from payments.gateways.base import DeclinedError, GatewayError, OutcomeUnknownError
from payments.lock_objects import payout_line_qs_select_for_update
from payments.models import LedgerAccount, LedgerTransaction, Order, PayoutLine, ProviderAccount
from payments.services.ledger import EntrySpec, ledger_account_get, ledger_transaction_post


class TransferOutcome(enum.StrEnum):
    TRANSFERRED = "transferred"
    RETRY = "retry"  # failed this time; another attempt is allowed
    GAVE_UP = "gave_up"  # failed and out of attempts
    NOT_ELIGIBLE = "not_eligible"  # no eligible account of this gateway, or another gateway's order
    NOTHING_TO_DO = "nothing_to_do"  # already transferred, cancelled or not transferable


TRANSFERABLE = (PayoutLine.Status.PENDING, PayoutLine.Status.FAILED)


@transaction.atomic
def payout_line_transfer(*, payout_line_id: int, now: datetime | None = None) -> TransferOutcome:
    """Make (or retry) the transfer of one payout line and book it in the ledger."""
    line = (
        payout_line_qs_select_for_update().select_related("order").filter(pk=payout_line_id).first()
    )
    if line is None or line.status not in TRANSFERABLE:
        return TransferOutcome.NOTHING_TO_DO
    order = line.order
    if order.status not in (Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED):
        return TransferOutcome.NOTHING_TO_DO
    if line.amount_due <= 0:
        line.status = PayoutLine.Status.CANCELLED
        line.save(update_fields=["status"])
        return TransferOutcome.NOTHING_TO_DO
    gateway = get_gateway()
    account = ProviderAccount.objects.filter(provider_id=line.provider_id).first()
    if not gateway.moves_money or order.gateway != gateway.name:
        return TransferOutcome.NOT_ELIGIBLE  # an order paid with the other gateway
    if account is None or not account.payout_eligible:
        return TransferOutcome.NOT_ELIGIBLE
    if not gateway.handles_account(account.stripe_account_id):
        return TransferOutcome.NOT_ELIGIBLE  # a simulated account with Stripe, or vice versa
    if line.attempts >= conf.max_transfer_attempts():
        return TransferOutcome.GAVE_UP

    now = now or timezone.now()
    amount = line.amount_due
    line.attempts += 1
    line.last_attempt_at = now
    try:
        transfer_id = gateway.transfer_create(
            amount=amount,
            currency=line.currency,
            destination=account.stripe_account_id,
            transfer_group=order.transfer_group,
            source_transaction=order.charge_id,
            metadata={
                "order_id": str(order.pk),
                "payout_line_id": str(line.pk),
                "provider_id": str(line.provider_id),
            },
            idempotency_key=line.idempotency_key,
        )
    except GatewayError as exc:
        return _record_failure(line, exc)

    line.status = PayoutLine.Status.TRANSFERRED
    line.stripe_transfer_id = transfer_id
    line.destination_account_id = account.stripe_account_id
    line.transferred_amount = amount
    line.transferred_at = now
    line.last_error = ""
    line.save()
    Kind = LedgerAccount.Kind
    ledger_transaction_post(
        kind=LedgerTransaction.Kind.TRANSFER,
        idempotency_key=f"payout-line-{line.pk}-transfer",
        entries=[
            EntrySpec(
                ledger_account_get(
                    kind=Kind.PROVIDER_PAYABLE, currency=line.currency, provider=line.provider
                ),
                amount,
            ),
            EntrySpec(ledger_account_get(kind=Kind.PLATFORM_CASH, currency=line.currency), -amount),
        ],
        order=order,
        payout_line=line,
        memo=f"Transfer {transfer_id} to {account.stripe_account_id}",
        posted_at=now,
    )
    return TransferOutcome.TRANSFERRED


def _record_failure(line: PayoutLine, exc: GatewayError) -> TransferOutcome:
    kind = "outcome unknown" if isinstance(exc, OutcomeUnknownError) else "declined"
    line.status = PayoutLine.Status.FAILED
    line.last_error = f"attempt {line.attempts} ({kind}, key {line.idempotency_key}): {exc}"
    if isinstance(exc, DeclinedError):
        line.key_generation += 1  # Stripe saved this error under the key: use a fresh one
    line.save()
    if line.attempts >= conf.max_transfer_attempts():
        return TransferOutcome.GAVE_UP
    return TransferOutcome.RETRY


def payout_lines_transferable_for(*, provider: AbstractBaseUser) -> list[int]:
    """Ids of the provider's lines that a transfer may still be attempted for."""
    return list(
        PayoutLine.objects.filter(
            provider=provider,
            status__in=TRANSFERABLE,
            attempts__lt=conf.max_transfer_attempts(),
            order__status__in=(Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED),
            order__gateway=get_gateway().name,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def payout_lines_enqueue_for(*, provider: AbstractBaseUser) -> list[int]:
    """After commit, enqueue a transfer task for each of the provider's transferable lines."""
    from payments.tasks import payout_line_transfer_task

    ids = payout_lines_transferable_for(provider=provider)
    for pk in ids:
        transaction.on_commit(lambda pk=pk: payout_line_transfer_task.delay(pk), robust=True)
    return ids


@transaction.atomic
def payout_line_retry_reset(*, payout_line_id: int) -> PayoutLine:
    """Staff: allow a line that ran out of attempts to be tried again (attempts back to 0)."""
    line = payout_line_qs_select_for_update().get(pk=payout_line_id)
    if line.status != PayoutLine.Status.FAILED:
        return line
    line.attempts = 0
    line.save(update_fields=["attempts"])
    from payments.tasks import payout_line_transfer_task

    transaction.on_commit(lambda: payout_line_transfer_task.delay(line.pk), robust=True)
    return line
