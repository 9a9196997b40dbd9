"""Balances, all summed from ledger entries (debit > 0, credit < 0)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, Q, Sum

from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction

Kind = LedgerAccount.Kind
TxnKind = LedgerTransaction.Kind


def _sum(entries) -> int:
    return int(entries.aggregate(total=Sum("amount"))["total"] or 0)


def ledger_balance(*, kind: str, currency: str, provider: AbstractBaseUser | None = None) -> int:
    """Signed balance of one account; 0 when the account was never used."""
    entries = LedgerEntry.objects.filter(
        account__kind=kind, account__currency=currency, account__provider=provider
    )
    return _sum(entries)


@dataclass(frozen=True)
class ProviderLedgerSummary:
    """A provider's money in one currency, from the entries on their payable account.

    owed == earned - refunded - transferred + reversed.
    """

    currency: str
    earned: int
    refunded: int
    transferred: int
    reversed: int
    owed: int

    @property
    def paid_out(self) -> int:
        """Net amount sent to the provider's connected account."""
        return self.transferred - self.reversed


def provider_ledger_summary(*, provider: AbstractBaseUser, currency: str) -> ProviderLedgerSummary:
    entries = LedgerEntry.objects.filter(
        account__kind=Kind.PROVIDER_PAYABLE, account__provider=provider, currency=currency
    )
    by_kind = {
        row["transaction__kind"]: int(row["total"])
        for row in entries.values("transaction__kind").annotate(total=Sum("amount"))
    }
    return ProviderLedgerSummary(
        currency=currency,
        earned=-by_kind.get(TxnKind.PROVIDER_PAYABLE, 0),
        refunded=by_kind.get(TxnKind.REFUND, 0),
        transferred=by_kind.get(TxnKind.TRANSFER, 0),
        reversed=-by_kind.get(TxnKind.REVERSAL, 0),
        owed=-sum(by_kind.values()),
    )


@dataclass(frozen=True)
class PlatformLedgerSummary:
    currency: str
    cash: int
    fee_revenue: int
    fees_refunded: int
    owed_to_providers: int
    buyer_clearing: int

    @property
    def net_fee_revenue(self) -> int:
        return self.fee_revenue - self.fees_refunded


def platform_ledger_summary(*, currency: str) -> PlatformLedgerSummary:
    entries = LedgerEntry.objects.filter(currency=currency)
    by_kind = {
        row["account__kind"]: int(row["total"])
        for row in entries.values("account__kind").annotate(total=Sum("amount"))
    }
    return PlatformLedgerSummary(
        currency=currency,
        cash=by_kind.get(Kind.PLATFORM_CASH, 0),
        fee_revenue=-by_kind.get(Kind.PLATFORM_FEE_REVENUE, 0),
        fees_refunded=by_kind.get(Kind.FEE_REFUNDS, 0),
        owed_to_providers=-by_kind.get(Kind.PROVIDER_PAYABLE, 0),
        buyer_clearing=by_kind.get(Kind.BUYER_CLEARING, 0),
    )


def ledger_unbalanced_transactions() -> list[tuple[int, str, int]]:
    """(transaction id, currency, sum) for every transaction whose entries do not balance."""
    rows = (
        LedgerEntry.objects.values("transaction_id", "currency")
        .annotate(total=Sum("amount"))
        .filter(~Q(total=0))
        .order_by("transaction_id", "currency")
    )
    return [(row["transaction_id"], row["currency"], int(row["total"])) for row in rows]


def ledger_is_balanced() -> bool:
    """True when every transaction balances per currency and no entry's currency differs
    from its account's: the ledger's invariant, checked after every payments test."""
    if ledger_unbalanced_transactions():
        return False
    mismatched = LedgerEntry.objects.exclude(currency=F("account__currency")).exists()
    empty = LedgerTransaction.objects.filter(entries__isnull=True).exists()
    return not mismatched and not empty
