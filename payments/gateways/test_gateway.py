"""The test-mode gateway, used when no STRIPE_API_KEY is set: no money moves.

Checkout sends the buyer to a page on our own site ("Test payment — no card is charged") whose
button confirms the payment through the same service as a Stripe payment
(``payments.services.orders.order_mark_paid``). Providers have no connected accounts, so payout
lines are booked and stay pending.
"""

from __future__ import annotations

from django.urls import reverse

from payments.gateways.base import (
    AccountState,
    CheckoutLineItem,
    CheckoutStart,
    CheckoutState,
    GatewayError,
)

TEST_SESSION_PREFIX = "test_cs_"


class TestGateway:
    name = "test"
    moves_money = False
    __test__ = False  # not a pytest test class

    def checkout_start(
        self,
        *,
        order_ref: str,
        transfer_group: str,
        currency: str,
        line_items: list[CheckoutLineItem],
        customer_email: str,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutStart:
        return CheckoutStart(
            session_id=f"{TEST_SESSION_PREFIX}{order_ref}",
            redirect_url=reverse("payments:test_checkout", kwargs={"order_id": int(order_ref)}),
        )

    def checkout_fetch(self, *, session_id: str) -> CheckoutState:
        """A test session is never paid by the gateway itself: only the test checkout page's
        button (``order_test_payment_confirm``) pays it."""
        if not session_id.startswith(TEST_SESSION_PREFIX):
            raise GatewayError(f"{session_id!r} is not a test-mode checkout session")
        return CheckoutState(
            session_id=session_id,
            order_ref=session_id.removeprefix(TEST_SESSION_PREFIX),
            paid=False,
            amount_total=None,
            currency="",
            payment_intent_id="",
            charge_id="",
        )

    def test_payment(self, *, session_id: str, amount_total: int, currency: str) -> CheckoutState:
        """The state a completed test checkout reports."""
        order_ref = session_id.removeprefix(TEST_SESSION_PREFIX)
        return CheckoutState(
            session_id=session_id,
            order_ref=order_ref,
            paid=True,
            amount_total=amount_total,
            currency=currency,
            payment_intent_id=f"test_pi_{order_ref}",
            charge_id=f"test_ch_{order_ref}",
        )

    def connected_account_create(
        self, *, provider_ref: str, email: str, idempotency_key: str
    ) -> AccountState:
        raise GatewayError(
            "test mode: providers have no Stripe connected accounts", code="test_mode"
        )

    def account_link_create(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        raise GatewayError(
            "test mode: providers have no Stripe connected accounts", code="test_mode"
        )

    def account_fetch(self, *, account_id: str) -> AccountState:
        raise GatewayError(
            "test mode: providers have no Stripe connected accounts", code="test_mode"
        )

    def transfer_create(self, **kwargs) -> str:
        raise GatewayError("test mode: no transfers are made", code="test_mode")

    def transfer_reversal_create(self, **kwargs) -> str:
        raise GatewayError("test mode: no transfers are made", code="test_mode")
