"""Row locks for the payment rows that concurrent workers mutate.

Every service that changes an order, a payout line, a reversal, a connected account or a
webhook event reads it through one of these inside ``transaction.atomic()``, so two workers
handling the same Stripe event (or a retry racing a webhook) serialise on the row.
"""

from django.db.models import QuerySet

from payments.models import (
    Order,
    PayoutLine,
    ProviderAccount,
    ProviderPayout,
    Quote,
    TransferReversal,
    WebhookEvent,
)


def quote_qs_select_for_update() -> QuerySet[Quote]:
    return Quote.objects.select_for_update(of=("self",))


def order_qs_select_for_update() -> QuerySet[Order]:
    return Order.objects.select_for_update(of=("self",))


def payout_line_qs_select_for_update() -> QuerySet[PayoutLine]:
    return PayoutLine.objects.select_for_update(of=("self",))


def transfer_reversal_qs_select_for_update() -> QuerySet[TransferReversal]:
    return TransferReversal.objects.select_for_update(of=("self",))


def provider_account_qs_select_for_update() -> QuerySet[ProviderAccount]:
    return ProviderAccount.objects.select_for_update(of=("self",))


def provider_payout_qs_select_for_update() -> QuerySet[ProviderPayout]:
    return ProviderPayout.objects.select_for_update(of=("self",))


def webhook_event_qs_select_for_update() -> QuerySet[WebhookEvent]:
    return WebhookEvent.objects.select_for_update(of=("self",))
