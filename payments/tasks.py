"""Background work of the payments app; each task calls one service and reschedules itself
with back-off while the service says another attempt is allowed."""

from celery import shared_task

from payments import conf
from payments.services.payouts import TransferOutcome, payout_line_transfer
from payments.services.refunds import ReversalOutcome, transfer_reversal_execute
from payments.services.webhooks import WebhookOutcome, webhook_event_process


@shared_task(name="payments.tasks.webhook_event_process")
def webhook_event_process_task(event_pk: int) -> str:
    from payments.models import WebhookEvent

    outcome = webhook_event_process(event_pk=event_pk)
    if outcome == WebhookOutcome.FAILED:
        attempts = WebhookEvent.objects.filter(pk=event_pk).values_list("attempts", flat=True)[0]
        if attempts < conf.max_webhook_attempts():
            webhook_event_process_task.apply_async(
                (event_pk,), countdown=conf.retry_delay_seconds(attempts)
            )
    return str(outcome)


@shared_task(name="payments.tasks.payout_line_transfer")
def payout_line_transfer_task(payout_line_id: int) -> str:
    from payments.models import PayoutLine

    outcome = payout_line_transfer(payout_line_id=payout_line_id)
    if outcome == TransferOutcome.RETRY:
        attempts = PayoutLine.objects.filter(pk=payout_line_id).values_list("attempts", flat=True)[
            0
        ]
        payout_line_transfer_task.apply_async(
            (payout_line_id,), countdown=conf.retry_delay_seconds(attempts)
        )
    return str(outcome)


@shared_task(name="payments.tasks.transfer_reversal")
def transfer_reversal_task(reversal_id: int) -> str:
    from payments.models import TransferReversal

    outcome = transfer_reversal_execute(reversal_id=reversal_id)
    if outcome == ReversalOutcome.RETRY:
        attempts = TransferReversal.objects.filter(pk=reversal_id).values_list(
            "attempts", flat=True
        )[0]
        transfer_reversal_task.apply_async(
            (reversal_id,), countdown=conf.retry_delay_seconds(attempts)
        )
    return str(outcome)
