"""What the payment services need from a payment provider, as plain values.

Two implementations: ``stripe_gateway.StripeGateway`` (Stripe Connect, separate charges and
transfers) and ``test_gateway.TestGateway`` (no real money moves: a page on our own site stands
in for Stripe Checkout, and providers connect simulated payout accounts).
``payments.gateways.get_gateway()`` picks one from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

#: Test mode's simulated payout accounts are named ``test_acct_<provider id>``.
SIMULATED_ACCOUNT_PREFIX = "test_acct_"


def is_simulated_account(account_id: str | None) -> bool:
    """True for a test-mode simulated payout account (never a Stripe one)."""
    return bool(account_id) and account_id.startswith(SIMULATED_ACCOUNT_PREFIX)


class GatewayError(Exception):
    """A call to the payment provider did not succeed."""

    def __init__(self, message: str, *, code: str = "", status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class OutcomeUnknownError(GatewayError):
    """The request may or may not have taken effect (network error, 5xx, rate limit).
    Retry with the SAME idempotency key: the provider then returns the first result."""


class DeclinedError(GatewayError):
    """The provider refused the request (a 4xx such as ``balance_insufficient``). Nothing was
    created; the provider saved this error under the idempotency key, so a retry needs a new
    key."""


@dataclass(frozen=True)
class CheckoutLineItem:
    name: str
    amount: int
    quantity: int = 1


@dataclass(frozen=True)
class CheckoutStart:
    session_id: str
    redirect_url: str


@dataclass(frozen=True)
class CheckoutState:
    """A checkout session as the provider reports it now."""

    session_id: str
    order_ref: str
    paid: bool
    amount_total: int | None
    currency: str
    payment_intent_id: str
    charge_id: str


@dataclass(frozen=True)
class AccountState:
    """A connected account's payout-relevant state."""

    account_id: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    currently_due: list[str] = field(default_factory=list)
    past_due: list[str] = field(default_factory=list)
    disabled_reason: str = ""


class PaymentGateway(Protocol):
    name: str
    #: True when the gateway makes transfers to connected accounts (Stripe's, or the test
    #: gateway's simulated ones); payout lines then move as soon as an account is eligible.
    moves_money: bool

    def handles_account(self, account_id: str) -> bool:
        """Whether ``account_id`` is a connected account of this gateway (a Stripe account
        for Stripe, a simulated one in test mode): only those are read, onboarded and paid."""
        ...

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
    ) -> CheckoutStart: ...

    def checkout_fetch(self, *, session_id: str) -> CheckoutState: ...

    def connected_account_create(
        self, *, provider_ref: str, email: str, idempotency_key: str
    ) -> AccountState: ...

    def account_link_create(self, *, account_id: str, refresh_url: str, return_url: str) -> str: ...

    def account_fetch(self, *, account_id: str) -> AccountState: ...

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
    ) -> str: ...

    def transfer_reversal_create(
        self, *, transfer_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str: ...
