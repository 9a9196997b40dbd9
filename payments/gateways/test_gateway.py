"""The test-mode gateway, used when no STRIPE_API_KEY is set: no real money moves.

Checkout sends the buyer to a page on our own site ("Test payment — no card is charged") whose
button confirms the payment through the same service as a Stripe payment
(``payments.services.orders.order_mark_paid``).

Providers can connect a *simulated* payout account (``test_acct_<provider id>``): its
onboarding finishes at once (the onboarding link is our own return page), and transfers to it
and their reversals are answered here, in-process, with ids derived from the idempotency key,
so the same payout services move payout lines pending -> transferred and post the same ledger
transactions as with Stripe. The simulated account's bank payout is a Stripe-shaped ``payout``
object (``simulated_payout``) that ``provider_payout_apply`` records like a ``payout.paid``
event.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from django.urls import reverse

from payments.gateways.base import (
    SIMULATED_ACCOUNT_PREFIX,
    AccountState,
    CheckoutLineItem,
    CheckoutStart,
    CheckoutState,
    DeclinedError,
    GatewayError,
    is_simulated_account,
)

TEST_SESSION_PREFIX = "test_cs_"
SIMULATED_TRANSFER_PREFIX = "test_tr_"
SIMULATED_REVERSAL_PREFIX = "test_trr_"
SIMULATED_PAYOUT_PREFIX = "test_po_"
SIMULATED_ID_PREFIXES = (
    SIMULATED_ACCOUNT_PREFIX,
    SIMULATED_TRANSFER_PREFIX,
    SIMULATED_REVERSAL_PREFIX,
    SIMULATED_PAYOUT_PREFIX,
)


class TestGateway:
    name = "test"
    moves_money = True  # simulated transfers, to simulated accounts only
    __test__ = False  # not a pytest test class

    def handles_account(self, account_id: str) -> bool:
        return is_simulated_account(account_id)

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

    # --- Simulated connected accounts ------------------------------------------------------

    def connected_account_create(
        self, *, provider_ref: str, email: str, idempotency_key: str
    ) -> AccountState:
        """A new simulated account, not yet onboarded (as Stripe creates one)."""
        if not provider_ref.isdigit():
            raise GatewayError(f"provider_ref must be a user id, got {provider_ref!r}")
        return AccountState(
            account_id=f"{SIMULATED_ACCOUNT_PREFIX}{provider_ref}",
            charges_enabled=False,
            payouts_enabled=False,
            details_submitted=False,
        )

    def account_link_create(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        """Simulated onboarding asks nothing: the link is our own return page, which reads
        the account (now complete) through the same service as after Stripe's onboarding."""
        self._require_simulated(account_id)
        parts = urlsplit(return_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def account_fetch(self, *, account_id: str) -> AccountState:
        """A simulated account's onboarding is complete: charges and payouts enabled."""
        self._require_simulated(account_id)
        return AccountState(
            account_id=account_id,
            charges_enabled=True,
            payouts_enabled=True,
            details_submitted=True,
        )

    def transfer_create(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str,
        source_transaction: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> str:
        """A simulated transfer; the same key gives the same id, as at Stripe."""
        if not is_simulated_account(destination):
            raise DeclinedError(
                f"test mode: {destination!r} is not a simulated payout account; "
                "no money is sent to it",
                code="test_mode",
            )
        _require_positive(amount, "transfer")
        return f"{SIMULATED_TRANSFER_PREFIX}{idempotency_key}"

    def transfer_reversal_create(
        self, *, transfer_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        if not transfer_id.startswith(SIMULATED_TRANSFER_PREFIX):
            raise DeclinedError(
                f"test mode: {transfer_id!r} is not a simulated transfer; it cannot be reversed "
                "here",
                code="test_mode",
            )
        _require_positive(amount, "reversal")
        return f"{SIMULATED_REVERSAL_PREFIX}{idempotency_key}"

    def simulated_payout(
        self, *, account_id: str, amount: int, currency: str, number: int, now: float | None = None
    ) -> dict[str, Any]:
        """The simulated account's payout ``number`` to its bank, paid at once, shaped like
        the ``payout`` object of Stripe's ``payout.paid`` event."""
        self._require_simulated(account_id)
        _require_positive(amount, "payout")
        paid_at = int(time.time() if now is None else now)
        return {
            "id": f"{SIMULATED_PAYOUT_PREFIX}{account_id.removeprefix(SIMULATED_ACCOUNT_PREFIX)}"
            f"_{number}",
            "object": "payout",
            "amount": amount,
            "currency": currency,
            "status": "paid",
            "arrival_date": paid_at,
            "created": paid_at,
            "failure_code": None,
            "failure_message": None,
        }

    @staticmethod
    def _require_simulated(account_id: str) -> None:
        if not is_simulated_account(account_id):
            raise GatewayError(
                f"test mode: {account_id!r} is a Stripe account; Stripe is not configured on "
                "this server",
                code="test_mode",
            )


def _require_positive(amount: int, what: str) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise DeclinedError(
            f"test mode: the {what} amount must be a positive int of minor units, got {amount!r}",
            code="test_mode",
        )
