"""Reads about providers' connected accounts."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Sum

from payments.models import PayoutLine, ProviderPayout, TransferReversal

#: Payout states in which the money has left (or is leaving) the connected account.
PAYOUT_STATES_HOLDING_MONEY = ("paid", "pending", "in_transit")


def connected_account_balances(*, account_id: str) -> dict[str, int]:
    """The balance of a connected account as our records know it, per currency: what was
    transferred to it, less succeeded reversals and payouts to its bank (paid or on the way).

    Used for the test mode's simulated accounts, whose balance exists only here.
    """
    balances: dict[str, int] = defaultdict(int)
    transferred = (
        PayoutLine.objects.filter(destination_account_id=account_id)
        .values("currency")
        .annotate(total=Sum("transferred_amount"))
    )
    for row in transferred:
        balances[row["currency"]] += int(row["total"] or 0)
    reversed_ = (
        TransferReversal.objects.filter(
            payout_line__destination_account_id=account_id,
            status=TransferReversal.Status.SUCCEEDED,
        )
        .values("payout_line__currency")
        .annotate(total=Sum("amount"))
    )
    for row in reversed_:
        balances[row["payout_line__currency"]] -= int(row["total"] or 0)
    paid_out = (
        ProviderPayout.objects.filter(
            stripe_account_id=account_id, status__in=PAYOUT_STATES_HOLDING_MONEY
        )
        .values("currency")
        .annotate(total=Sum("amount"))
    )
    for row in paid_out:
        balances[row["currency"]] -= int(row["total"] or 0)
    return dict(balances)
