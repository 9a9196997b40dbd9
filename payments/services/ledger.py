"""The one way money is written to the ledger: ``ledger_transaction_post``.

Amounts are signed minor units: debit positive, credit negative. A transaction is refused
before anything is written unless, for every currency in it, its entries sum to zero; on
PostgreSQL a deferred constraint trigger re-checks this at commit (migration 0002), and
``payments.selectors.ledger.ledger_is_balanced`` checks it on any database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.validators import CURRENCY_VALIDATOR
from payments.errors import LedgerError, UnbalancedTransactionError
from payments.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Order,
    PayoutLine,
    Refund,
)


@dataclass(frozen=True)
class EntrySpec:
    """One leg to post: ``amount`` minor units (debit > 0, credit < 0) on ``account``."""

    account: LedgerAccount
    amount: int


def ledger_account_get(
    *, kind: str, currency: str, provider: AbstractBaseUser | None = None
) -> LedgerAccount:
    """The ledger account of ``kind`` in ``currency`` (per provider for provider kinds),
    created on first use."""
    if kind not in LedgerAccount.Kind.values:
        raise LedgerError(f"ledger account kind {kind!r} is not one of {LedgerAccount.Kind.values}")
    _check_currency(currency, where=f"ledger account {kind}")
    needs_provider = kind in LedgerAccount.PROVIDER_KINDS
    if needs_provider and provider is None:
        raise LedgerError(f"ledger account {kind!r} belongs to a provider; none was given")
    if not needs_provider and provider is not None:
        raise LedgerError(f"ledger account {kind!r} is a platform account; got a provider")
    account, _ = LedgerAccount.objects.get_or_create(
        kind=kind, currency=currency, provider=provider
    )
    return account


def ledger_transaction_post(
    *,
    kind: str,
    idempotency_key: str,
    entries: Sequence[EntrySpec],
    order: Order | None = None,
    payout_line: PayoutLine | None = None,
    refund: Refund | None = None,
    memo: str = "",
    posted_at: datetime | None = None,
) -> LedgerTransaction:
    """Post a balanced transaction once. Posting the same key again returns the first
    transaction, provided the entries are the same; different entries are refused."""
    where = f"ledger transaction {idempotency_key!r}"
    if kind not in LedgerTransaction.Kind.values:
        raise LedgerError(f"{where}: kind {kind!r} is not one of {LedgerTransaction.Kind.values}")
    if not isinstance(idempotency_key, str) or not idempotency_key or len(idempotency_key) > 255:
        raise LedgerError(
            f"idempotency_key must be a string of 1-255 characters, got {idempotency_key!r}"
        )
    _check_entries(entries, where=where)

    existing = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        _check_same(existing, kind=kind, entries=entries, where=where)
        return existing
    try:
        with transaction.atomic():
            txn = LedgerTransaction.objects.create(
                kind=kind,
                idempotency_key=idempotency_key,
                order=order,
                payout_line=payout_line,
                refund=refund,
                memo=memo[:255],
                posted_at=posted_at or timezone.now(),
            )
            LedgerEntry.objects.bulk_create(
                LedgerEntry(
                    transaction=txn,
                    account=spec.account,
                    amount=spec.amount,
                    currency=spec.account.currency,
                )
                for spec in entries
            )
    except IntegrityError:
        # Another worker posted the same key between our read and our insert.
        existing = LedgerTransaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        _check_same(existing, kind=kind, entries=entries, where=where)
        return existing
    return txn


def _check_entries(entries: Sequence[EntrySpec], *, where: str) -> None:
    if len(entries) < 2:
        raise LedgerError(f"{where}: needs at least two entries, got {len(entries)}")
    sums: dict[str, int] = defaultdict(int)
    for position, spec in enumerate(entries):
        leg = f"{where}, entry {position}"
        if not isinstance(spec, EntrySpec):
            raise LedgerError(f"{leg}: expected an EntrySpec, got {type(spec).__name__}")
        if not isinstance(spec.account, LedgerAccount) or spec.account.pk is None:
            raise LedgerError(f"{leg}: account must be a saved LedgerAccount")
        if isinstance(spec.amount, bool) or not isinstance(spec.amount, int):
            raise LedgerError(f"{leg}: amount must be an int of minor units, got {spec.amount!r}")
        if spec.amount == 0:
            raise LedgerError(f"{leg}: amount must not be zero")
        sums[spec.account.currency] += spec.amount
    unbalanced = {currency: total for currency, total in sums.items() if total != 0}
    if unbalanced:
        detail = ", ".join(f"{c}: {t:+d}" for c, t in sorted(unbalanced.items()))
        raise UnbalancedTransactionError(
            f"{where}: entries must sum to zero per currency; off by {detail}"
        )


def _check_same(
    existing: LedgerTransaction, *, kind: str, entries: Sequence[EntrySpec], where: str
) -> None:
    stored = sorted(existing.entries.values_list("account_id", "amount"))
    wanted = sorted((spec.account.pk, spec.amount) for spec in entries)
    if existing.kind != kind or stored != wanted:
        raise LedgerError(
            f"{where}: this idempotency key was already posted with different entries "
            f"(kind {existing.kind!r}); refusing to post {kind!r}"
        )


def _check_currency(currency: str, *, where: str) -> None:
    try:
        CURRENCY_VALIDATOR(currency)
    except Exception as exc:
        raise LedgerError(f"{where}: currency {currency!r} is not a lower-case ISO code") from exc
