"""Stripe Connect through the official ``stripe`` library (separate charges and transfers).

One ``StripeClient`` per gateway: ``STRIPE_API_KEY``, and ``STRIPE_API_BASE`` as its API base
address when set (tests point it at a local fake of the Stripe API). Every response is turned
into a plain dict with ``to_dict()`` and then into the value types of ``gateways.base``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import stripe

from payments.gateways.base import (
    AccountState,
    CheckoutLineItem,
    CheckoutStart,
    CheckoutState,
    DeclinedError,
    GatewayError,
    OutcomeUnknownError,
    is_simulated_account,
)

# Connected accounts: the platform pays Stripe's fees and carries negative balances, the
# provider gets the Express dashboard (Stripe collects the onboarding requirements).
CONNECT_CONTROLLER: dict[str, Any] = {
    "fees": {"payer": "application"},
    "losses": {"payments": "application"},
    "stripe_dashboard": {"type": "express"},
}
CONNECT_CAPABILITIES: dict[str, Any] = {
    "card_payments": {"requested": True},
    "transfers": {"requested": True},
}


class StripeGateway:
    name = "stripe"
    moves_money = True

    def __init__(self, *, api_key: str, api_base: str = "", max_network_retries: int = 2):
        if not api_key:
            raise GatewayError("StripeGateway needs an API key (settings.STRIPE_API_KEY)")
        base_addresses = {"api": api_base.rstrip("/")} if api_base else None
        self.client = stripe.StripeClient(
            api_key, base_addresses=base_addresses, max_network_retries=max_network_retries
        )

    def handles_account(self, account_id: str) -> bool:
        """Every account but the test mode's simulated ones."""
        return bool(account_id) and not is_simulated_account(account_id)

    # --- Checkout ---------------------------------------------------------------------------

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
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": currency,
                        "unit_amount": item.amount,
                        "product_data": {"name": item.name},
                    },
                    "quantity": item.quantity,
                }
                for item in line_items
            ],
            "payment_intent_data": {
                "transfer_group": transfer_group,
                "metadata": {"order_id": order_ref},
            },
            "metadata": {"order_id": order_ref},
            "client_reference_id": order_ref,
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if customer_email:
            params["customer_email"] = customer_email
        session = self._call(
            lambda: self.client.v1.checkout.sessions.create(
                params, {"idempotency_key": idempotency_key}
            )
        )
        return CheckoutStart(session_id=session["id"], redirect_url=session.get("url") or "")

    def checkout_fetch(self, *, session_id: str) -> CheckoutState:
        session = self._call(
            lambda: self.client.v1.checkout.sessions.retrieve(
                session_id, {"expand": ["payment_intent"]}
            )
        )
        intent = session.get("payment_intent")
        intent_id, charge_id = "", ""
        if isinstance(intent, dict):
            intent_id = intent.get("id") or ""
            charge = intent.get("latest_charge")
            charge_id = (charge.get("id") if isinstance(charge, dict) else charge) or ""
        elif isinstance(intent, str):
            intent_id = intent
        return CheckoutState(
            session_id=session["id"],
            order_ref=str((session.get("metadata") or {}).get("order_id") or ""),
            paid=session.get("payment_status") == "paid",
            amount_total=session.get("amount_total"),
            currency=session.get("currency") or "",
            payment_intent_id=intent_id,
            charge_id=charge_id,
        )

    # --- Connect ----------------------------------------------------------------------------

    def connected_account_create(
        self, *, provider_ref: str, email: str, idempotency_key: str
    ) -> AccountState:
        params: dict[str, Any] = {
            "controller": CONNECT_CONTROLLER,
            "capabilities": CONNECT_CAPABILITIES,
            "metadata": {"provider_id": provider_ref},
        }
        if email:
            params["email"] = email
        account = self._call(
            lambda: self.client.v1.accounts.create(params, {"idempotency_key": idempotency_key})
        )
        return account_state_from_object(account)

    def account_link_create(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        link = self._call(
            lambda: self.client.v1.account_links.create(
                {
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
        )
        return link["url"]

    def account_fetch(self, *, account_id: str) -> AccountState:
        return account_state_from_object(
            self._call(lambda: self.client.v1.accounts.retrieve(account_id))
        )

    # --- Transfers --------------------------------------------------------------------------

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
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "destination": destination,
            "transfer_group": transfer_group,
            "metadata": metadata,
        }
        if source_transaction:
            params["source_transaction"] = source_transaction
        transfer = self._call(
            lambda: self.client.v1.transfers.create(params, {"idempotency_key": idempotency_key})
        )
        return transfer["id"]

    def transfer_reversal_create(
        self, *, transfer_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        reversal = self._call(
            lambda: self.client.v1.transfers.reversals.create(
                transfer_id,
                {"amount": amount, "metadata": metadata},
                {"idempotency_key": idempotency_key},
            )
        )
        return reversal["id"]

    # --- Errors -----------------------------------------------------------------------------

    @staticmethod
    def _call(request: Callable[[], Any]) -> dict[str, Any]:
        """Run one API request; map Stripe's errors onto ``OutcomeUnknownError`` (retry with the
        same key) and ``DeclinedError`` (nothing happened; the key is spent)."""
        try:
            return request().to_dict()
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
            raise OutcomeUnknownError(
                _describe(exc), code=exc.code or "", status=exc.http_status
            ) from exc
        except stripe.IdempotencyError as exc:
            # A concurrent request with the same key is in flight (409): try again later.
            raise OutcomeUnknownError(_describe(exc), code="idempotency_error", status=409) from exc
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            raise GatewayError(_describe(exc), code=exc.code or "", status=exc.http_status) from exc
        except stripe.StripeError as exc:
            if exc.http_status is not None and exc.http_status >= 500:
                raise OutcomeUnknownError(
                    _describe(exc), code=exc.code or "", status=exc.http_status
                ) from exc
            raise DeclinedError(
                _describe(exc), code=exc.code or "", status=exc.http_status
            ) from exc


def account_state_from_object(account: dict[str, Any]) -> AccountState:
    """An ``account`` object (API response or ``account.updated`` payload) as AccountState."""
    requirements = account.get("requirements") or {}
    return AccountState(
        account_id=account["id"],
        charges_enabled=bool(account.get("charges_enabled")),
        payouts_enabled=bool(account.get("payouts_enabled")),
        details_submitted=bool(account.get("details_submitted")),
        currently_due=list(requirements.get("currently_due") or []),
        past_due=list(requirements.get("past_due") or []),
        disabled_reason=requirements.get("disabled_reason") or "",
    )


def _describe(exc: stripe.StripeError) -> str:
    code = f" [{exc.code}]" if getattr(exc, "code", None) else ""
    status = f" (HTTP {exc.http_status})" if exc.http_status else ""
    return f"{exc.user_message or str(exc) or type(exc).__name__}{code}{status}"
