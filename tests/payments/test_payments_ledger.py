"""The ledger: one posting service, balanced transactions, balances only from entries."""

import pytest
from django.db import transaction
from django.db.utils import DatabaseError, IntegrityError

from payments.errors import LedgerError, UnbalancedTransactionError
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
from payments.selectors.ledger import (
    ledger_balance,
    ledger_is_balanced,
    ledger_unbalanced_transactions,
    platform_ledger_summary,
    provider_ledger_summary,
)
from payments.services.ledger import EntrySpec, ledger_account_get, ledger_transaction_post

Kind = LedgerAccount.Kind
TxnKind = LedgerTransaction.Kind


@pytest.fixture
def accounts(db, provider_a):
    return {
        "cash": ledger_account_get(kind=Kind.PLATFORM_CASH, currency="usd"),
        "clearing": ledger_account_get(kind=Kind.BUYER_CLEARING, currency="usd"),
        "revenue": ledger_account_get(kind=Kind.PLATFORM_FEE_REVENUE, currency="usd"),
        "payable": ledger_account_get(
            kind=Kind.PROVIDER_PAYABLE, currency="usd", provider=provider_a
        ),
    }


def test_a_balanced_transaction_is_posted_with_its_entries(accounts):
    txn = ledger_transaction_post(
        kind=TxnKind.BUYER_PAYMENT,
        idempotency_key="k1",
        entries=[EntrySpec(accounts["cash"], 600), EntrySpec(accounts["clearing"], -600)],
    )

    assert sorted(txn.entries.values_list("amount", "currency")) == [(-600, "usd"), (600, "usd")]
    assert ledger_balance(kind=Kind.PLATFORM_CASH, currency="usd") == 600
    assert ledger_balance(kind=Kind.BUYER_CLEARING, currency="usd") == -600
    assert ledger_is_balanced()


def test_an_unbalanced_transaction_is_refused_and_nothing_is_written(accounts):
    with pytest.raises(UnbalancedTransactionError, match="off by usd: \\+1"):
        ledger_transaction_post(
            kind=TxnKind.BUYER_PAYMENT,
            idempotency_key="k1",
            entries=[EntrySpec(accounts["cash"], 601), EntrySpec(accounts["clearing"], -600)],
        )

    assert LedgerTransaction.objects.count() == 0
    assert LedgerEntry.objects.count() == 0


@pytest.mark.parametrize(
    ("amounts", "message"),
    [
        ([600], "at least two entries"),
        ([0, 0], "must not be zero"),
        ([1.5, -1.5], "must be an int of minor units"),
        ([True, -1], "must be an int of minor units"),
    ],
)
def test_malformed_entries_are_refused_with_the_entry_named(accounts, amounts, message):
    legs = [accounts["cash"], accounts["clearing"]]
    entries = [EntrySpec(legs[i], amount) for i, amount in enumerate(amounts)]

    with pytest.raises(LedgerError, match=message):
        ledger_transaction_post(kind=TxnKind.BUYER_PAYMENT, idempotency_key="k", entries=entries)
    assert LedgerTransaction.objects.count() == 0


def test_entries_in_two_currencies_must_each_balance(accounts):
    eur_cash = ledger_account_get(kind=Kind.PLATFORM_CASH, currency="eur")

    with pytest.raises(UnbalancedTransactionError, match="eur: \\+100, usd: -100"):
        ledger_transaction_post(
            kind=TxnKind.BUYER_PAYMENT,
            idempotency_key="fx",
            entries=[EntrySpec(eur_cash, 100), EntrySpec(accounts["clearing"], -100)],
        )


def test_posting_the_same_key_twice_returns_the_first_transaction(accounts):
    entries = [EntrySpec(accounts["cash"], 600), EntrySpec(accounts["clearing"], -600)]
    first = ledger_transaction_post(
        kind=TxnKind.BUYER_PAYMENT, idempotency_key="k", entries=entries
    )
    second = ledger_transaction_post(
        kind=TxnKind.BUYER_PAYMENT, idempotency_key="k", entries=entries
    )

    assert second.pk == first.pk
    assert LedgerEntry.objects.count() == 2
    assert ledger_balance(kind=Kind.PLATFORM_CASH, currency="usd") == 600


def test_reusing_a_key_with_other_entries_is_refused(accounts):
    ledger_transaction_post(
        kind=TxnKind.BUYER_PAYMENT,
        idempotency_key="k",
        entries=[EntrySpec(accounts["cash"], 600), EntrySpec(accounts["clearing"], -600)],
    )

    with pytest.raises(LedgerError, match="already posted with different entries"):
        ledger_transaction_post(
            kind=TxnKind.BUYER_PAYMENT,
            idempotency_key="k",
            entries=[EntrySpec(accounts["cash"], 500), EntrySpec(accounts["clearing"], -500)],
        )
    assert ledger_balance(kind=Kind.PLATFORM_CASH, currency="usd") == 600


def test_provider_accounts_need_a_provider_and_platform_accounts_refuse_one(db, provider_a):
    with pytest.raises(LedgerError, match="belongs to a provider"):
        ledger_account_get(kind=Kind.PROVIDER_PAYABLE, currency="usd")
    with pytest.raises(LedgerError, match="is a platform account"):
        ledger_account_get(kind=Kind.PLATFORM_CASH, currency="usd", provider=provider_a)
    with pytest.raises(LedgerError, match="not a lower-case ISO code"):
        ledger_account_get(kind=Kind.PLATFORM_CASH, currency="USD")
    assert LedgerAccount.objects.count() == 0


def test_ledger_account_get_returns_one_account_per_kind_provider_and_currency(
    accounts, provider_a
):
    again = ledger_account_get(kind=Kind.PROVIDER_PAYABLE, currency="usd", provider=provider_a)

    assert again.pk == accounts["payable"].pk
    assert LedgerAccount.objects.filter(kind=Kind.PROVIDER_PAYABLE).count() == 1


def test_provider_and_platform_summaries_come_from_the_entries(accounts, provider_a):
    post = ledger_transaction_post
    post(
        kind=TxnKind.BUYER_PAYMENT,
        idempotency_key="p",
        entries=[EntrySpec(accounts["cash"], 600), EntrySpec(accounts["clearing"], -600)],
    )
    post(
        kind=TxnKind.PLATFORM_FEE,
        idempotency_key="f",
        entries=[EntrySpec(accounts["clearing"], 120), EntrySpec(accounts["revenue"], -120)],
    )
    post(
        kind=TxnKind.PROVIDER_PAYABLE,
        idempotency_key="o",
        entries=[EntrySpec(accounts["clearing"], 480), EntrySpec(accounts["payable"], -480)],
    )
    post(
        kind=TxnKind.TRANSFER,
        idempotency_key="t",
        entries=[EntrySpec(accounts["payable"], 300), EntrySpec(accounts["cash"], -300)],
    )

    summary = provider_ledger_summary(provider=provider_a, currency="usd")
    assert (summary.earned, summary.transferred, summary.refunded, summary.reversed) == (
        480,
        300,
        0,
        0,
    )
    assert summary.owed == 180
    platform = platform_ledger_summary(currency="usd")
    assert (platform.cash, platform.fee_revenue, platform.owed_to_providers) == (300, 120, 180)
    assert platform.buyer_clearing == 0


def test_the_invariant_selector_finds_an_unbalanced_transaction_written_around_the_service(
    accounts,
):
    txn = LedgerTransaction.objects.create(
        kind=TxnKind.BUYER_PAYMENT, idempotency_key="raw", posted_at="2026-01-01T00:00Z"
    )
    LedgerEntry.objects.create(transaction=txn, account=accounts["cash"], amount=5, currency="usd")
    # (On PostgreSQL the deferred trigger would refuse to commit this; see below.)
    assert ledger_unbalanced_transactions() == [(txn.pk, "usd", 5)]
    assert not ledger_is_balanced()
    LedgerEntry.objects.create(
        transaction=txn, account=accounts["clearing"], amount=-5, currency="usd"
    )
    assert ledger_is_balanced()


@pytest.mark.django_db(transaction=True)
def test_postgresql_refuses_to_commit_an_unbalanced_transaction(require_postgres, provider_a):
    cash = ledger_account_get(kind=Kind.PLATFORM_CASH, currency="usd")

    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        txn = LedgerTransaction.objects.create(
            kind=TxnKind.BUYER_PAYMENT, idempotency_key="raw", posted_at="2026-01-01T00:00Z"
        )
        LedgerEntry.objects.create(transaction=txn, account=cash, amount=5, currency="usd")

    assert LedgerTransaction.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_postgresql_ledger_entries_are_append_only(require_postgres, provider_a):
    cash = ledger_account_get(kind=Kind.PLATFORM_CASH, currency="usd")
    clearing = ledger_account_get(kind=Kind.BUYER_CLEARING, currency="usd")
    ledger_transaction_post(
        kind=TxnKind.BUYER_PAYMENT,
        idempotency_key="k",
        entries=[EntrySpec(cash, 600), EntrySpec(clearing, -600)],
    )

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(account=cash).update(amount=700)

    assert ledger_balance(kind=Kind.PLATFORM_CASH, currency="usd") == 600
