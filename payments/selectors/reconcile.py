"""Reconciliation: every order, ledger transaction, payout line and report total checked
against the money invariants (docs/pricing.md, "Reconciliation").

``reconciliation_mismatches()`` reads only; the ``payments_reconcile`` command and the staff
page print what it finds. An empty list means the books agree to the cent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Sum

from payments.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Order,
    PayoutLine,
)
from payments.selectors.ledger import ledger_unbalanced_transactions, provider_ledger_summary
from payments.selectors.reports import SOLD, provider_payout_csv_rows, provider_report

Kind = LedgerAccount.Kind
TxnKind = LedgerTransaction.Kind
# Orders priced before per-provider fees: their order lines hold payouts only.
PER_SAMPLE_LINES_SINCE = "2026-12-v2"


@dataclass(frozen=True)
class Mismatch:
    """One broken invariant: where (``order 12``, ``provider 3``, ``ledger``) and what."""

    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


def reconciliation_mismatches() -> list[Mismatch]:
    found: list[Mismatch] = []
    for order in Order.objects.select_related("quote").order_by("pk").iterator(chunk_size=200):
        found.extend(_order_mismatches(order))
    found.extend(_ledger_mismatches())
    for provider_id, currency in _providers_with_sales():
        found.extend(_report_mismatches(provider_id, currency))
    return found


def _check(where: str, label: str, actual: int, expected: int) -> Iterator[Mismatch]:
    if actual != expected:
        yield Mismatch(where, f"{label} is {actual}, expected {expected}")


def _order_mismatches(order: Order) -> Iterator[Mismatch]:
    where = f"order {order.pk}"
    snapshot = order.quote_snapshot
    yield from _check(where, "total", order.total, order.quote.total)
    yield from _check(where, "fee", order.fee, order.quote.fee)
    yield from _lines_mismatches(where + " quote", snapshot.get("providers", []), order)
    if order.status not in SOLD:
        return
    lines = list(order.payout_lines.all())
    parts = [{"gross": x.gross, "fee": x.fee, "amount": x.amount} for x in lines]
    yield from _lines_mismatches(where + " payout lines", parts, order)
    expected = {
        int(p["provider_id"]): (p["gross"], p["fee"], p["amount"])
        for p in snapshot.get("providers", [])
        if p["gross"] > 0
    }
    booked = {line.provider_id: (line.gross, line.fee, line.amount) for line in lines}
    if booked != expected:
        yield Mismatch(where, f"payout lines {booked} differ from the quote's {expected}")
    if order.formula_version >= PER_SAMPLE_LINES_SINCE:
        yield from _order_line_mismatches(order, booked)
    yield from _order_ledger_mismatches(order, lines)
    yield from _refund_mismatches(order, lines)


def _lines_mismatches(where: str, lines: list[dict], order: Order) -> Iterator[Mismatch]:
    yield from _check(where, "sum of provider gross", sum(x["gross"] for x in lines), order.total)
    yield from _check(where, "sum of provider fees", sum(x["fee"] for x in lines), order.fee)
    for x in lines:
        if x["fee"] + x["amount"] != x["gross"] or min(x["gross"], x["fee"], x["amount"]) < 0:
            yield Mismatch(where, f"line {x} does not split into fee + payout >= 0")


def _order_line_mismatches(order: Order, booked: dict) -> Iterator[Mismatch]:
    rows = order.lines.values("provider_id").annotate(
        gross=Sum("gross"), fee=Sum("fee"), payout=Sum("payout")
    )
    sums = {row["provider_id"]: (row["gross"], row["fee"], row["payout"]) for row in rows}
    sums = {provider: parts for provider, parts in sums.items() if parts[0] > 0}
    if sums != booked:
        yield Mismatch(f"order {order.pk}", f"sample lines add up to {sums}, lines say {booked}")


def _txn_sum(order: Order, kind: str, account_kind: str) -> int:
    entries = LedgerEntry.objects.filter(
        transaction__order=order, transaction__kind=kind, account__kind=account_kind
    )
    return int(entries.aggregate(total=Sum("amount"))["total"] or 0)


def _order_ledger_mismatches(order: Order, lines: list[PayoutLine]) -> Iterator[Mismatch]:
    where = f"order {order.pk} ledger"
    paid = _txn_sum(order, TxnKind.BUYER_PAYMENT, Kind.PLATFORM_CASH)
    yield from _check(where, "buyer payment", paid, order.total)
    fee = -_txn_sum(order, TxnKind.PLATFORM_FEE, Kind.PLATFORM_FEE_REVENUE)
    yield from _check(where, "platform fee", fee, order.fee)
    payable = -_txn_sum(order, TxnKind.PROVIDER_PAYABLE, Kind.PROVIDER_PAYABLE)
    yield from _check(where, "owed to providers", payable, sum(x.amount for x in lines))
    for line in lines:
        transferred = -int(
            LedgerEntry.objects.filter(
                transaction__payout_line=line,
                transaction__kind=TxnKind.TRANSFER,
                account__kind=Kind.PLATFORM_CASH,
            ).aggregate(total=Sum("amount"))["total"]
            or 0
        )
        yield from _check(
            f"payout line {line.pk}", "transfer in the ledger", transferred, line.transferred_amount
        )


def _refund_mismatches(order: Order, lines: list[PayoutLine]) -> Iterator[Mismatch]:
    where = f"order {order.pk} refunds"
    refunds = list(order.refunds.all())
    yield from _check(
        where, "sum of refunds", sum(r.amount for r in refunds), order.amount_refunded
    )
    providers_part = sum(r.providers_part for r in refunds)
    taken_back = sum(line.amount_refunded for line in lines)
    yield from _check(where, "providers' part taken from payout lines", taken_back, providers_part)
    cash = -_txn_sum(order, TxnKind.REFUND, Kind.PLATFORM_CASH)
    yield from _check(where, "refunds in the ledger", cash, order.amount_refunded)


def _ledger_mismatches() -> Iterator[Mismatch]:
    for txn_id, currency, total in ledger_unbalanced_transactions():
        yield Mismatch("ledger", f"transaction {txn_id} is off by {total} {currency}")
    fee_orders = Order.objects.filter(status__in=SOLD).values("currency").annotate(fee=Sum("fee"))
    for row in fee_orders:
        revenue = -int(
            LedgerEntry.objects.filter(
                account__kind=Kind.PLATFORM_FEE_REVENUE, currency=row["currency"]
            ).aggregate(total=Sum("amount"))["total"]
            or 0
        )
        yield from _check(f"ledger {row['currency']}", "fee revenue", revenue, int(row["fee"]))


def _providers_with_sales() -> list[tuple[int, str]]:
    return list(
        PayoutLine.objects.filter(order__status__in=SOLD)
        .values_list("provider_id", "currency")
        .distinct()
        .order_by("provider_id", "currency")
    )


def _report_mismatches(provider_id: int, currency: str) -> Iterator[Mismatch]:
    """The provider's payouts page and CSV agree with the payout lines and the ledger."""
    from django.contrib.auth import get_user_model

    provider = get_user_model().objects.get(pk=provider_id)
    where = f"provider {provider_id} report"
    lines = PayoutLine.objects.filter(
        provider=provider, currency=currency, order__status__in=SOLD
    ).aggregate(gross=Sum("gross"), fee=Sum("fee"), amount=Sum("amount"))
    report = provider_report(provider=provider, currency=currency)
    yield from _check(where, "sales", report.gross, int(lines["gross"] or 0))
    yield from _check(where, "fees", report.fees, int(lines["fee"] or 0))
    yield from _check(where, "earned", report.summary.earned, int(lines["amount"] or 0))
    summary = provider_ledger_summary(provider=provider, currency=currency)
    yield from _check(where, "ledger earned", summary.earned, int(lines["amount"] or 0))
    yield from _csv_mismatches(provider, currency, where)


def _csv_mismatches(provider, currency: str, where: str) -> Iterator[Mismatch]:
    rows = provider_payout_csv_rows(provider=provider, currency=currency)
    header = next(rows)
    column = {name: index for index, name in enumerate(header)}
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        for name in ("gross", "fees", "earned"):
            totals[name] += int(row[column[name]])
        if int(row[column["gross"]]) != int(row[column["fees"]]) + int(row[column["earned"]]):
            yield Mismatch(where, f"CSV row of order {row[0]} has gross != fees + earned")
    lines = PayoutLine.objects.filter(provider=provider, currency=currency).aggregate(
        gross=Sum("gross"), fee=Sum("fee"), amount=Sum("amount")
    )
    yield from _check(where, "CSV gross", totals["gross"], int(lines["gross"] or 0))
    yield from _check(where, "CSV fees", totals["fees"], int(lines["fee"] or 0))
    yield from _check(where, "CSV earned", totals["earned"], int(lines["amount"] or 0))
