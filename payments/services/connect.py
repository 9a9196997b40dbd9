"""Provider onboarding to Stripe Connect, and the account state that gates payouts.

In test mode the same services onboard a simulated payout account (``test_acct_<id>``, see
``payments.gateways.test_gateway``), and ``provider_simulated_payout_create`` pays its balance
out to a simulated bank, recorded by ``provider_payout_apply`` as a ``payout.paid`` event is.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import user_has_role
from payments import conf
from payments.errors import NotAllowedError
from payments.gateways import get_gateway
from payments.gateways.base import AccountState, is_simulated_account
from payments.gateways.test_gateway import TestGateway
from payments.lock_objects import (
    provider_account_qs_select_for_update,
    provider_payout_qs_select_for_update,
)
from payments.models import ProviderAccount, ProviderPayout
from payments.selectors.accounts import connected_account_balances
from payments.services.payouts import payout_lines_enqueue_for


@transaction.atomic
def provider_onboarding_link_create(*, provider: AbstractBaseUser) -> str:
    """A fresh Stripe onboarding link for the provider, creating their connected account
    on first use. Account links are single-use, so every call makes a new one."""
    if not user_has_role(provider, "provider"):
        raise NotAllowedError(f"user {provider.pk} does not hold the provider role")
    gateway = get_gateway()
    ProviderAccount.objects.get_or_create(provider=provider)
    account = provider_account_qs_select_for_update().get(provider=provider)
    if account.stripe_account_id and not gateway.handles_account(account.stripe_account_id):
        if not is_simulated_account(account.stripe_account_id):
            raise NotAllowedError(
                f"your payout account {account.stripe_account_id} is a Stripe account, and "
                "Stripe is not configured on this server; it is kept for when it is"
            )
        # A test-mode simulated account gives way to a real Stripe account (whose state
        # replaces the simulated one's below).
        account.stripe_account_id = None
        account.state_version = 0
    if not account.stripe_account_id:
        state = gateway.connected_account_create(
            provider_ref=str(provider.pk),
            email=getattr(provider, "email", "") or "",
            idempotency_key=f"provider-{provider.pk}-connected-account",
        )
        account.stripe_account_id = state.account_id
        _apply_state(account, state)
        account.save()
    return gateway.account_link_create(
        account_id=account.stripe_account_id,
        refresh_url=conf.absolute_url(reverse("payments:connect_refresh")),
        return_url=conf.absolute_url(reverse("payments:connect_return")),
    )


def provider_account_refresh(*, provider: AbstractBaseUser) -> ProviderAccount | None:
    """Read the provider's account from Stripe now (return page) and apply its state."""
    account = ProviderAccount.objects.filter(provider=provider).first()
    gateway = get_gateway()
    if account is None or not gateway.handles_account(account.stripe_account_id or ""):
        return account
    state = gateway.account_fetch(account_id=account.stripe_account_id)
    return provider_account_state_apply(state=state, version=int(time.time()))


@transaction.atomic
def provider_account_state_apply(*, state: AccountState, version: int) -> ProviderAccount | None:
    """Apply an account's state as of ``version`` (Stripe's ``created``, epoch seconds).

    Older states than the one applied are ignored, so out-of-order ``account.updated`` events
    are harmless. When the account becomes payout-eligible, the provider's waiting payout
    lines are enqueued for transfer. Returns None for an account that is not ours.
    """
    account = (
        provider_account_qs_select_for_update().filter(stripe_account_id=state.account_id).first()
    )
    if account is None:
        return None
    if version < account.state_version:
        return account
    was_eligible = account.payout_eligible
    _apply_state(account, state)
    account.state_version = version
    account.save()
    if account.payout_eligible and not was_eligible:
        payout_lines_enqueue_for(provider=account.provider)
    return account


def _apply_state(account: ProviderAccount, state: AccountState) -> None:
    account.charges_enabled = state.charges_enabled
    account.payouts_enabled = state.payouts_enabled
    account.details_submitted = state.details_submitted
    account.requirements_currently_due = list(state.currently_due)
    account.requirements_past_due = list(state.past_due)
    account.disabled_reason = state.disabled_reason


@transaction.atomic
def provider_payout_apply(*, stripe_account_id: str, payout: dict, version: int) -> ProviderPayout:
    """Record a payout of a connected account to its bank (``payout.*`` events).

    Keyed by the payout id; a state older than the one recorded is ignored.
    """
    account = ProviderAccount.objects.filter(stripe_account_id=stripe_account_id).first()
    arrival = payout.get("arrival_date")
    values = {
        "provider_id": account.provider_id if account else None,
        "stripe_account_id": stripe_account_id,
        "amount": int(payout["amount"]),
        "currency": str(payout["currency"]).lower(),
        "status": str(payout["status"]),
        "arrival_date": _from_epoch(arrival) if arrival else None,
        "failure_code": payout.get("failure_code") or "",
        "failure_message": payout.get("failure_message") or "",
        "state_version": version,
    }
    record, created = ProviderPayout.objects.get_or_create(
        stripe_payout_id=payout["id"], defaults=values
    )
    if created:
        return record
    record = provider_payout_qs_select_for_update().get(pk=record.pk)
    if version < record.state_version:
        return record
    for name, value in values.items():
        setattr(record, name, value)
    record.save()
    return record


@transaction.atomic
def provider_simulated_payout_create(
    *, provider: AbstractBaseUser, now: datetime | None = None
) -> list[ProviderPayout]:
    """Test mode: pay the provider's simulated account balance (what was transferred to it,
    less reversals and earlier payouts) out to its simulated bank, one payout per currency.

    The payout is recorded through ``provider_payout_apply``, as Stripe's ``payout.paid``
    event records a real one. Returns the payouts made; none when the balance is not positive.
    """
    gateway = get_gateway()
    if not isinstance(gateway, TestGateway):
        raise NotAllowedError(
            "simulated bank payouts exist in test mode only; Stripe pays connected accounts "
            "out to their banks itself"
        )
    if not user_has_role(provider, "provider"):
        raise NotAllowedError(f"user {provider.pk} does not hold the provider role")
    account = provider_account_qs_select_for_update().filter(provider=provider).first()
    if account is None or not is_simulated_account(account.stripe_account_id):
        raise NotAllowedError("connect a simulated payout account first")
    if not account.payout_eligible:
        raise NotAllowedError(
            f"the simulated payout account {account.stripe_account_id} cannot be paid out yet"
        )
    now = now or timezone.now()
    number = ProviderPayout.objects.filter(stripe_account_id=account.stripe_account_id).count()
    made = []
    balances = connected_account_balances(account_id=account.stripe_account_id)
    for currency, amount in sorted(balances.items()):
        if amount <= 0:
            continue
        number += 1
        payout = gateway.simulated_payout(
            account_id=account.stripe_account_id,
            amount=amount,
            currency=currency,
            number=number,
            now=now.timestamp(),
        )
        made.append(
            provider_payout_apply(
                stripe_account_id=account.stripe_account_id,
                payout=payout,
                version=int(payout["created"]),
            )
        )
    return made


def _from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)
