"""Reads behind the payment pages: buyer receipts, provider payout reports, platform revenue.
(A quote's price explanation and a provider's quote lines are in ``quotes``.)

Money totals come from the ledger; per-sale detail (which samples, which dataset version)
comes from the order lines and payout lines the sale created.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncMonth

from payments.models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Order,
    OrderLine,
    PayoutLine,
    ProviderAccount,
    ProviderPayout,
    WebhookEvent,
)
from payments.selectors.ledger import (
    PlatformLedgerSummary,
    ProviderLedgerSummary,
    ledger_is_balanced,
    platform_ledger_summary,
    provider_ledger_summary,
)
from payments.selectors.names import dataset_version_names

TxnKind = LedgerTransaction.Kind
SOLD = (Order.Status.PAID, Order.Status.PARTIALLY_REFUNDED, Order.Status.REFUNDED)
PURCHASE_ROWS_SHOWN = 200  # on the page; the CSV export has every row


# --- Buyers ---------------------------------------------------------------------------------


def order_list_for_buyer(*, buyer: AbstractBaseUser) -> QuerySet[Order]:
    return (
        Order.objects.filter(buyer=buyer)
        .select_related("entitlement")
        .order_by("-created_at", "-pk")
    )


def order_get_for_viewer(*, user: AbstractBaseUser, order_id: int) -> Order | None:
    """The order if ``user`` is its buyer or staff; None otherwise (no existence leak)."""
    order = Order.objects.select_related("quote", "buyer").filter(pk=order_id).first()
    if order is None or (order.buyer_id != user.pk and not user.is_staff):
        return None
    return order


@dataclass(frozen=True)
class ReceiptLine:
    dataset_version_ref: str
    listing_ref: str
    name: str
    samples: int
    tokens: int
    amount: int


def order_receipt_lines(*, order: Order) -> list[ReceiptLine]:
    """One line per dataset version bought, named, at its gross: the lines add up to the
    order total exactly."""
    rows = list(
        order.lines.values("dataset_version_ref", "listing_ref")
        .annotate(samples=Count("pk"), tokens=Sum("token_count"), amount=Sum("gross"))
        .order_by("dataset_version_ref")
    )
    names = dataset_version_names(refs=[row["dataset_version_ref"] for row in rows])
    return [
        ReceiptLine(
            dataset_version_ref=row["dataset_version_ref"],
            listing_ref=row["listing_ref"],
            name=names[row["dataset_version_ref"]],
            samples=row["samples"],
            tokens=int(row["tokens"] or 0),
            amount=int(row["amount"] or 0),
        )
        for row in rows
    ]


# --- Providers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodRow:
    period: dt.date
    earned: int = 0
    refunded: int = 0
    transferred: int = 0
    reversed: int = 0

    @property
    def net(self) -> int:
        return self.earned - self.refunded


@dataclass(frozen=True)
class DatasetRow:
    dataset_version_ref: str
    listing_ref: str
    name: str
    samples: int
    gross: int
    fees: int
    earned: int


@dataclass(frozen=True)
class PurchaseRow:
    line: PayoutLine
    samples: int

    @property
    def gross(self) -> int:
        return self.line.gross

    @property
    def fees(self) -> int:
        return self.line.fee


@dataclass(frozen=True)
class ProviderReport:
    currency: str
    summary: ProviderLedgerSummary
    periods: list[PeriodRow]
    datasets: list[DatasetRow]
    purchases: list[PurchaseRow]
    payouts: list[ProviderPayout]
    account: ProviderAccount | None
    gross: int = 0
    fees: int = 0


def provider_periods(
    *, provider: AbstractBaseUser, currency: str, since: dt.datetime | None = None
) -> list[PeriodRow]:
    """Month by month, from the entries on the provider's payable account."""
    entries = LedgerEntry.objects.filter(
        account__kind=LedgerAccount.Kind.PROVIDER_PAYABLE,
        account__provider=provider,
        currency=currency,
    )
    if since is not None:
        entries = entries.filter(transaction__posted_at__gte=since)
    rows = (
        entries.annotate(period=TruncMonth("transaction__posted_at"))
        .values("period", "transaction__kind")
        .annotate(total=Sum("amount"))
        .order_by("period")
    )
    by_period: dict[dt.date, dict[str, int]] = defaultdict(dict)
    for row in rows:
        period = row["period"].date() if isinstance(row["period"], dt.datetime) else row["period"]
        by_period[period][row["transaction__kind"]] = int(row["total"])
    return [
        PeriodRow(
            period=period,
            earned=-kinds.get(TxnKind.PROVIDER_PAYABLE, 0),
            refunded=kinds.get(TxnKind.REFUND, 0),
            transferred=kinds.get(TxnKind.TRANSFER, 0),
            reversed=-kinds.get(TxnKind.REVERSAL, 0),
        )
        for period, kinds in sorted(by_period.items())
    ]


def provider_dataset_rows(*, provider: AbstractBaseUser, currency: str) -> list[DatasetRow]:
    rows = list(
        OrderLine.objects.filter(
            provider=provider, order__currency=currency, order__status__in=SOLD
        )
        .values("dataset_version_ref", "listing_ref")
        .annotate(samples=Count("pk"), gross=Sum("gross"), fees=Sum("fee"), earned=Sum("payout"))
        .order_by("dataset_version_ref")
    )
    names = dataset_version_names(refs=[row["dataset_version_ref"] for row in rows])
    return [
        DatasetRow(
            dataset_version_ref=row["dataset_version_ref"],
            listing_ref=row["listing_ref"],
            name=names[row["dataset_version_ref"]],
            samples=row["samples"],
            gross=int(row["gross"] or 0),
            fees=int(row["fees"] or 0),
            earned=int(row["earned"] or 0),
        )
        for row in rows
    ]


def _payout_lines_with_sales(*, provider: AbstractBaseUser, currency: str) -> QuerySet[PayoutLine]:
    """The provider's payout lines, newest first, with the number of its samples sold."""
    sales = OrderLine.objects.filter(order=OuterRef("order_id"), provider=OuterRef("provider_id"))
    return (
        PayoutLine.objects.filter(provider=provider, currency=currency)
        .select_related("order")
        .annotate(
            samples=Coalesce(
                Subquery(sales.values("order").annotate(n=Count("pk")).values("n")), 0
            ),
        )
        .order_by("-created_at", "-pk")
    )


def provider_purchase_rows(
    *, provider: AbstractBaseUser, currency: str, limit: int | None = None
) -> list[PurchaseRow]:
    lines = _payout_lines_with_sales(provider=provider, currency=currency)
    if limit is not None:
        lines = lines[:limit]
    return [PurchaseRow(line=line, samples=int(line.samples)) for line in lines]


def provider_report(*, provider: AbstractBaseUser, currency: str) -> ProviderReport:
    periods = provider_periods(provider=provider, currency=currency)
    datasets = provider_dataset_rows(provider=provider, currency=currency)
    return ProviderReport(
        currency=currency,
        summary=provider_ledger_summary(provider=provider, currency=currency),
        periods=periods,
        datasets=datasets,
        purchases=provider_purchase_rows(
            provider=provider, currency=currency, limit=PURCHASE_ROWS_SHOWN
        ),
        payouts=list(ProviderPayout.objects.filter(provider=provider).order_by("-pk")),
        account=ProviderAccount.objects.filter(provider=provider).first(),
        gross=sum(row.gross for row in datasets),
        fees=sum(row.fees for row in datasets),
    )


CSV_HEADER = (
    "order_id",
    "paid_at",
    "currency",
    "dataset_versions",
    "dataset_version_ids",
    "samples",
    "gross",
    "fees",
    "earned",
    "refunded",
    "status",
    "transferred_amount",
    "stripe_transfer_id",
    "last_error",
)


def provider_payout_csv_rows(*, provider: AbstractBaseUser, currency: str) -> Iterator[tuple]:
    """One row per sale (payout line), newest first, for the streamed CSV export. Amounts are
    integer minor units, as in the ledger; gross = fees + earned on every row."""
    yield CSV_HEADER
    lines = _payout_lines_with_sales(provider=provider, currency=currency)
    for page in _pages(lines.iterator(chunk_size=500), 500):
        versions = _versions_by_order(provider=provider, order_ids=[line.order_id for line in page])
        names = dataset_version_names(refs={ref for refs in versions.values() for ref in refs})
        for line in page:
            refs = versions.get(line.order_id, [])
            yield (
                line.order_id,
                line.order.paid_at.isoformat() if line.order.paid_at else "",
                line.currency,
                "; ".join(names[ref] for ref in refs),
                " ".join(refs),
                int(line.samples),
                line.gross,
                line.fee,
                line.amount,
                line.amount_refunded,
                line.status,
                line.transferred_amount,
                line.stripe_transfer_id,
                line.last_error,
            )


def _pages(items: Iterator, size: int) -> Iterator[list]:
    page = []
    for item in items:
        page.append(item)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


def _versions_by_order(*, provider: AbstractBaseUser, order_ids: list[int]) -> dict[int, list[str]]:
    rows = (
        OrderLine.objects.filter(provider=provider, order_id__in=order_ids)
        .values_list("order_id", "dataset_version_ref")
        .distinct()
        .order_by("order_id", "dataset_version_ref")
    )
    found: dict[int, list[str]] = defaultdict(list)
    for order_id, ref in rows:
        found[order_id].append(ref)
    return found


# --- Staff ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevenueRow:
    period: dt.date
    fee_revenue: int
    fees_refunded: int
    buyer_payments: int
    refunds: int

    @property
    def net(self) -> int:
        return self.fee_revenue - self.fees_refunded


@dataclass(frozen=True)
class RevenueReport:
    currency: str
    summary: PlatformLedgerSummary
    periods: list[RevenueRow]
    balanced: bool
    failed_payout_lines: list[PayoutLine]
    failed_events: list[WebhookEvent]
    recent_orders: list[Order]


def platform_revenue_report(*, currency: str) -> RevenueReport:
    accounts = {
        LedgerAccount.Kind.PLATFORM_FEE_REVENUE,
        LedgerAccount.Kind.FEE_REFUNDS,
        LedgerAccount.Kind.PLATFORM_CASH,
    }
    rows = (
        LedgerEntry.objects.filter(currency=currency, account__kind__in=accounts)
        .annotate(period=TruncMonth("transaction__posted_at"))
        .values("period", "account__kind", "transaction__kind")
        .annotate(total=Sum("amount"))
        .order_by("period")
    )
    by_period: dict[dt.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        period = row["period"].date() if isinstance(row["period"], dt.datetime) else row["period"]
        kinds = by_period[period]
        total = int(row["total"])
        if row["account__kind"] == LedgerAccount.Kind.PLATFORM_FEE_REVENUE:
            kinds["fee_revenue"] -= total
        elif row["account__kind"] == LedgerAccount.Kind.FEE_REFUNDS:
            kinds["fees_refunded"] += total
        elif row["transaction__kind"] == TxnKind.BUYER_PAYMENT:
            kinds["buyer_payments"] += total
        elif row["transaction__kind"] == TxnKind.REFUND:
            kinds["refunds"] -= total
    periods = [
        RevenueRow(
            period=period,
            fee_revenue=k["fee_revenue"],
            fees_refunded=k["fees_refunded"],
            buyer_payments=k["buyer_payments"],
            refunds=k["refunds"],
        )
        for period, k in sorted(by_period.items())
    ]
    return RevenueReport(
        currency=currency,
        summary=platform_ledger_summary(currency=currency),
        periods=periods,
        balanced=ledger_is_balanced(),
        failed_payout_lines=list(
            PayoutLine.objects.filter(status=PayoutLine.Status.FAILED).select_related("provider")[
                :50
            ]
        ),
        failed_events=list(WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED)[:50]),
        recent_orders=list(Order.objects.select_related("buyer").order_by("-pk")[:20]),
    )
