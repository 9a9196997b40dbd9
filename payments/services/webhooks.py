"""Stripe webhooks: verify and store each event once, then process it in the background.

``webhook_event_receive`` (the endpoint) checks the signature with
``stripe.Webhook.construct_event``, stores the event under its unique id and, after commit,
enqueues ``payments.tasks.webhook_event_process_task``. A redelivered event id is stored
once and processed once. Processing relies on idempotent state transitions (a paid order
stays paid, a refund step is keyed by the cumulative refunded amount, account and payout
states carry the event's ``created`` as a version), so replays and out-of-order delivery are
harmless.
"""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import stripe
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payments.errors import GatewayNotConfiguredError, PaymentMismatchError, WebhookPayloadError
from payments.gateways.stripe_gateway import account_state_from_object
from payments.lock_objects import webhook_event_qs_select_for_update
from payments.models import Order, WebhookEvent
from payments.services.connect import provider_account_state_apply, provider_payout_apply
from payments.services.orders import order_confirm_checkout
from payments.services.refunds import order_refund_record

logger = logging.getLogger(__name__)

TRANSFER_GROUP_RE = re.compile(r"^order_(\d+)$")


def webhook_event_receive(*, payload: bytes, signature: str) -> tuple[WebhookEvent, bool]:
    """Verify, store once, enqueue. Returns the stored event and whether it is new."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise GatewayNotConfiguredError("STRIPE_WEBHOOK_SECRET is not set; webhooks are refused")
    try:
        stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        raise WebhookPayloadError(
            f"Stripe-Signature check failed: {exc}", code="bad_signature"
        ) from exc
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        # A correctly signed body that is not a JSON object (``[1,2]``, a bare number).
        raise WebhookPayloadError(f"the request body is not a JSON event: {exc}") from exc
    data = json.loads(payload)
    _check_event_shape(data)

    with transaction.atomic():
        event, created = WebhookEvent.objects.get_or_create(
            event_id=str(data["id"]),
            defaults={
                "type": data["type"],
                "created": data["created"],
                "account": str(data.get("account") or ""),
                "livemode": bool(data.get("livemode")),
                "payload": data,
            },
        )
        if created:
            from payments.tasks import webhook_event_process_task

            transaction.on_commit(lambda: webhook_event_process_task.delay(event.pk), robust=True)
    return event, created


def _check_event_shape(data: Any) -> None:
    """Refuse (400) a signed body whose fields could not be stored or processed."""
    if not isinstance(data, dict):
        raise WebhookPayloadError(f"the event must be a JSON object, got {type(data).__name__}")
    for key in ("id", "type", "created", "data"):
        if key not in data:
            raise WebhookPayloadError(f"the event has no {key!r} field")
    for key, longest in (("id", 255), ("type", 128)):
        value = data[key]
        if not isinstance(value, str) or not 0 < len(value) <= longest:
            raise WebhookPayloadError(
                f"the event's {key!r} must be a string of 1 to {longest} characters"
            )
    created = data["created"]
    if isinstance(created, bool) or not isinstance(created, int) or not 0 <= created < 2**62:
        raise WebhookPayloadError("the event's 'created' must be a Unix time in seconds")
    account = data.get("account")
    if account is not None and (not isinstance(account, str) or len(account) > 255):
        raise WebhookPayloadError("the event's 'account' must be a string")
    if not isinstance(data["data"], dict) or not isinstance(data["data"].get("object"), dict):
        raise WebhookPayloadError("the event's data.object is missing or not an object")
    if "\\u0000" in json.dumps(data):
        raise WebhookPayloadError("the event holds a NUL character (\\u0000)")


class WebhookOutcome(enum.StrEnum):
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"
    ALREADY_DONE = "already_done"


def webhook_event_process(*, event_pk: int) -> WebhookOutcome:
    """Process a stored event once; a failure is recorded on the event (attempts, error)."""
    with transaction.atomic():
        event = webhook_event_qs_select_for_update().filter(pk=event_pk).first()
        if event is None or event.status in (
            WebhookEvent.Status.PROCESSED,
            WebhookEvent.Status.IGNORED,
        ):
            return WebhookOutcome.ALREADY_DONE
        handler = HANDLERS.get(event.type)
        if handler is None:
            event.status = WebhookEvent.Status.IGNORED
            event.processed_at = timezone.now()
            event.save(update_fields=["status", "processed_at"])
            return WebhookOutcome.IGNORED
        event.attempts += 1
        try:
            with transaction.atomic():
                handler(event, event.payload["data"]["object"])
        except Exception as exc:  # recorded on the event, retried by the task
            logger.warning("webhook %s (%s) failed: %s", event.event_id, event.type, exc)
            event.status = WebhookEvent.Status.FAILED
            event.last_error = f"attempt {event.attempts}: {type(exc).__name__}: {exc}"
            event.save(update_fields=["status", "attempts", "last_error"])
            return WebhookOutcome.FAILED
        event.status = WebhookEvent.Status.PROCESSED
        event.processed_at = timezone.now()
        event.last_error = ""
        event.save(update_fields=["status", "attempts", "last_error", "processed_at"])
        return WebhookOutcome.PROCESSED


# --- Handlers: (event, data.object) -> None; raise to record a failure ---------------------------


def _checkout_session_completed(event: WebhookEvent, session: dict[str, Any]) -> None:
    if session.get("mode") not in (None, "payment"):
        return
    order_confirm_checkout(session_id=session["id"])


def _charge_refunded(event: WebhookEvent, charge: dict[str, Any]) -> None:
    order = _order_for_charge(charge)
    if order.status == Order.Status.PENDING and order.checkout_session_id:
        # The refund overtook checkout.session.completed: confirm the payment first.
        order = order_confirm_checkout(session_id=order.checkout_session_id)
    order_refund_record(
        order_id=order.pk,
        cumulative_refunded=int(charge["amount_refunded"]),
        source=f"stripe {event.event_id}",
    )


def _order_for_charge(charge: dict[str, Any]) -> Order:
    order = Order.objects.filter(charge_id=charge["id"]).first()
    if order is None and charge.get("payment_intent"):
        order = Order.objects.filter(payment_intent_id=charge["payment_intent"]).first()
    match = TRANSFER_GROUP_RE.match(charge.get("transfer_group") or "")
    if order is None and match:
        order = Order.objects.filter(pk=int(match.group(1))).first()
    if order is None:
        raise PaymentMismatchError(f"charge {charge['id']!r} belongs to no order")
    return order


def _account_updated(event: WebhookEvent, account: dict[str, Any]) -> None:
    provider_account_state_apply(state=account_state_from_object(account), version=event.created)


def _payout_changed(event: WebhookEvent, payout: dict[str, Any]) -> None:
    if not event.account:
        return  # the platform's own payout: nothing to report to a provider
    provider_payout_apply(stripe_account_id=event.account, payout=payout, version=event.created)


HANDLERS: dict[str, Callable[[WebhookEvent, dict[str, Any]], None]] = {
    "checkout.session.completed": _checkout_session_completed,
    "checkout.session.async_payment_succeeded": _checkout_session_completed,
    "charge.refunded": _charge_refunded,
    "account.updated": _account_updated,
    "payout.created": _payout_changed,
    "payout.updated": _payout_changed,
    "payout.paid": _payout_changed,
    "payout.failed": _payout_changed,
    "payout.canceled": _payout_changed,
}
