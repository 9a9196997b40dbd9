"""Money that adds up, from the subset chooser to the provider's CSV.

Hypothesis drives multi-provider orders whose samples cost far below one cent, through
quote -> order -> test payment -> ledger -> refunds -> provider reports -> CSV, and checks
after each example that ``payments_reconcile`` finds nothing and the figures agree exactly.
A second property ties the subset chooser's price to the quote it produces.
"""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.services import user_create
from marketplace.models import Sample
from payments.models import Order, PayoutLine
from payments.pricing import CandidateSample, ListingTerms
from payments.selectors.reconcile import reconciliation_mismatches
from payments.selectors.reports import provider_payout_csv_rows, provider_report
from payments.services.orders import (
    order_checkout_start,
    order_create_from_quote,
    order_test_payment_confirm,
)
from payments.services.quotes import quote_create, quote_create_for_job
from payments.services.refunds import order_refund_record
from payments.subset import job_subset_select
from tests.payments.conftest import META
from tests.payments.journey import build_sub_cent_job

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("test_mode")]

EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def providers(db):
    return [
        user_create(
            username=f"seller{i}",
            email=f"s{i}@example.com",
            password="pw-12345678",
            is_provider=True,
            display_name=f"Seller {i}",
        )
        for i in range(3)
    ]


@st.composite
def sales(draw):
    """Samples of 10 to 400 tokens from three providers' listings at 1 to 60 cents per 1k
    tokens: each costs a fraction of a cent."""
    floors = [draw(st.integers(1, 60)) for _ in range(4)]
    count = draw(st.integers(1, 40))
    rows = []
    for index in range(count):
        listing = draw(st.integers(0, 3))
        rows.append(
            (
                f"s{index:03d}",
                listing,
                draw(st.integers(10, 400)),
                draw(st.floats(-0.5, 3.0, allow_nan=False)),
            )
        )
    refunds = draw(st.lists(st.integers(1, 10_000), max_size=2))
    return floors, rows, draw(st.integers(0, 3000)), refunds


def pay(buyer, quote) -> Order:
    """Accept ``quote`` and pay it at the test checkout."""
    order = order_create_from_quote(quote_id=quote.pk, buyer=buyer)
    order_checkout_start(order_id=order.pk, buyer=buyer)
    return order_test_payment_confirm(order_id=order.pk, buyer=buyer)


def one_sample_order(buyer, provider) -> Order:
    """A paid order of one 1,000-token sample at 50 cents per 1k tokens (fee 7, payout 43)."""
    quote = quote_create(
        buyer=buyer,
        samples_with_values=[CandidateSample("a", str(provider.pk), "L", "V", 1000, 1.0)],
        listing_terms=[ListingTerms("L", 50, "usd")],
        valuation_meta=META,
    )
    return pay(buyer, quote)


def csv_totals(provider, currency="usd"):
    rows = list(
        csv.reader(
            io.StringIO(
                "\n".join(
                    ",".join(str(cell) for cell in row)
                    for row in provider_payout_csv_rows(provider=provider, currency=currency)
                )
            )
        )
    )
    header, body = rows[0], rows[1:]
    column = {name: header.index(name) for name in ("gross", "fees", "earned", "refunded")}
    return {name: sum(int(row[index]) for row in body) for name, index in column.items()}


@EXAMPLES
@given(sale=sales())
def test_every_order_reconciles_from_quote_to_csv(buyer, providers, sale):
    floors, rows, fee_bps, refunds = sale
    owner = [providers[listing % 3] for listing in range(4)]
    samples = [
        CandidateSample(sid, str(owner[listing].pk), f"L{listing}", f"V{listing}", tokens, value)
        for sid, listing, tokens, value in rows
    ]
    terms = [ListingTerms(f"L{i}", floors[i], "usd") for i in range(4)]
    if not any(value > 0 for *_, value in rows):
        return  # nothing payable: the quote is refused, tested in test_pricing
    with transaction.atomic():
        quote = quote_create(
            buyer=buyer,
            samples_with_values=samples,
            listing_terms=terms,
            valuation_meta=META,
            fee_bps=fee_bps,
        )
        order = pay(buyer, quote)
        cumulative = 0
        for step in refunds:
            cumulative = min(order.total, cumulative + step)
            order_refund_record(order_id=order.pk, cumulative_refunded=cumulative, source="test")
        order.refresh_from_db()

        assert reconciliation_mismatches() == []
        lines = list(PayoutLine.objects.filter(order=order))
        assert sum(line.gross for line in lines) == order.total == quote.total
        assert sum(line.fee for line in lines) == order.fee
        assert all(line.fee + line.amount == line.gross for line in lines)
        assert min(n for line in lines for n in (line.gross, line.fee, line.amount)) >= 0
        reports = [provider_report(provider=p, currency="usd") for p in providers]
        assert sum(report.gross for report in reports) == order.total
        assert sum(report.fees for report in reports) == order.fee
        for provider, report in zip(providers, reports, strict=True):
            totals = csv_totals(provider)
            assert (totals["gross"], totals["fees"]) == (report.gross, report.fees)
            assert totals["earned"] == report.summary.earned
            assert totals["refunded"] == report.summary.refunded
            assert sum(row.gross for row in report.datasets) == report.gross
            assert sum(row.fees for row in report.datasets) == report.fees
        assert sum(r.summary.refunded for r in reports) + order.fee >= order.amount_refunded
        transaction.set_rollback(True)


@pytest.fixture
def market(buyer, providers):
    """A finished valuation of 40 samples from three providers, each worth well under a cent."""
    return build_sub_cent_job(buyer=buyer, providers=providers)


@EXAMPLES
@given(budget=st.integers(0, 60), k=st.integers(1, 45), mode=st.sampled_from(["budget", "top_k"]))
def test_the_chooser_price_is_exactly_what_the_quote_charges(buyer, market, budget, k, mode):
    with transaction.atomic():
        preview = job_subset_select(job=market, mode=mode, k=k, budget=budget)
        if mode == "budget":
            assert preview.estimated_price <= budget
            assert preview.exact_price <= budget
        if preview.count:
            quote = quote_create_for_job(
                buyer=buyer, job_id=market.pk, sample_ids=list(preview.sample_ids)
            )
            assert quote.total == preview.estimated_price
            assert quote.sample_count == preview.count
        transaction.set_rollback(True)


def test_a_budget_is_spent_where_samples_cost_fractions_of_a_cent(buyer, market):
    everything = job_subset_select(job=market, mode="top_k", k=40)
    assert (everything.count, everything.estimated_price) == (30, 65)

    preview = job_subset_select(job=market, mode="budget", budget=32)

    # Each sample costs its exact floor price; rounding each up to a whole cent, as the chooser
    # once did, would have bought at most 32 samples' worth of cents. Here 30.02 cents are
    # spent, and every sample left out costs more than the 1.98 cents that remain.
    assert (preview.exact_price, preview.estimated_price) == (Fraction(1501, 50), 31)
    left_out = Sample.objects.filter(pk__in=set(everything.sample_ids) - set(preview.sample_ids))
    prices = [
        Fraction(s.token_count * s.version.listing.floor_price_per_1k_tokens, 1000)
        for s in left_out.select_related("version__listing")
    ]
    assert prices and min(prices) > 32 - preview.exact_price


def test_owned_samples_are_never_sold_again(buyer, market):
    first = job_subset_select(job=market, mode="top_k", k=5)
    quote = quote_create_for_job(buyer=buyer, job_id=market.pk, sample_ids=list(first.sample_ids))
    pay(buyer, quote)

    again = job_subset_select(job=market, mode="top_k", k=10)
    assert again.owned_count == 5
    assert not set(again.sample_ids) & set(first.sample_ids)
    overlapping = quote_create_for_job(
        buyer=buyer, job_id=market.pk, sample_ids=[*first.sample_ids[:2], *again.sample_ids[:3]]
    )
    sold = {line["sample_id"] for line in overlapping.lines["samples"]}
    assert sold == {str(pk) for pk in again.sample_ids[:3]}
    assert [x["reason"] for x in overlapping.lines["excluded"]] == ["already_owned"] * 2
    assert Order.objects.count() == 1


def test_reconcile_command_prints_each_mismatch_and_fails(buyer, providers):
    order = one_sample_order(buyer, providers[0])
    out = StringIO()
    call_command("payments_reconcile", stdout=out)
    assert out.getvalue().strip() == "0 mismatches"

    # A fee booked twice on the payout line: its gross no longer matches the order.
    PayoutLine.objects.filter(order=order).update(gross=F("gross") + 7, fee=F("fee") + 7)
    out = StringIO()
    with pytest.raises(CommandError, match="mismatches$"):
        call_command("payments_reconcile", stdout=out)
    printed = out.getvalue().splitlines()
    assert f"order {order.pk} payout lines: sum of provider gross is 57, expected 50" in printed
    assert f"order {order.pk} payout lines: sum of provider fees is 14, expected 7" in printed


def test_staff_reconcile_page_shows_the_same_checks(client, buyer, providers, staff):
    order = one_sample_order(buyer, providers[0])

    client.force_login(buyer)
    assert client.get("/payments/reconcile/").status_code == 403
    client.force_login(staff)
    html = client.get("/payments/reconcile/").content.decode()
    assert 'data-reconcile="clean"' in html and "0 mismatches" in html

    PayoutLine.objects.filter(order=order).update(gross=F("gross") + 7, fee=F("fee") + 7)
    html = client.get("/payments/reconcile/").content.decode()
    assert 'data-reconcile="mismatches"' in html
    assert f"order {order.pk} payout lines" in html
    assert "sum of provider gross is 57, expected 50" in html


def test_a_tiny_float_value_is_kept_exactly_on_the_order_line(buyer, providers):
    """5e-324 is 1/2**1074 exactly: a 324-digit denominator, stored without truncation."""
    samples = [
        CandidateSample("a", str(providers[0].pk), "L", "V", 1000, 5e-324),
        CandidateSample("b", str(providers[1].pk), "L2", "V2", 10, 1.0),
    ]
    terms = [ListingTerms("L", 50, "usd"), ListingTerms("L2", 50, "usd")]
    quote = quote_create(
        buyer=buyer, samples_with_values=samples, listing_terms=terms, valuation_meta=META
    )
    order = order_create_from_quote(quote_id=quote.pk, buyer=buyer)

    line = order.lines.get(sample_ref="a")
    assert Fraction(line.value) == Fraction(5e-324) and len(line.value) > 300
