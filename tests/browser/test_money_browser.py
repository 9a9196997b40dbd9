"""Money that adds up, in Chromium: one buyer makes two overlapping purchases of samples that
cost fractions of a cent from two providers; the receipts, both providers' payout pages and
their CSV exports agree to the cent, and ``payments_reconcile`` finds nothing.
Screenshots in var/screenshots/."""

from __future__ import annotations

import csv
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from payments.models import Order
from tests.browser.conftest import log_in, make_user
from tests.payments.journey import build_sub_cent_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def cents(text: str) -> int:
    """'1,234.56 USD' -> 123456."""
    match = re.fullmatch(r"(-?)([\d,]+)\.(\d\d) USD", text.strip())
    assert match, f"not an amount in USD: {text!r}"
    sign = -1 if match.group(1) else 1
    return sign * (int(match.group(2).replace(",", "")) * 100 + int(match.group(3)))


def buy_top_k(page, base: str, job_id: int, k: int, shot) -> dict:
    """Preview top k, request a quote, accept and pay it; the receipt's lines and total."""
    page.goto(f"{base}/valuation/jobs/{job_id}/subset/")
    page.check("input[name=mode][value=top_k]")
    page.fill("#id_k", str(k))
    page.click("button:has-text('Preview')")
    page.wait_for_selector("[data-preview=count]")
    owned = page.locator("[data-preview=owned]")
    preview = {
        "price": cents(page.text_content("[data-preview=price]")),
        "owned": owned.text_content().strip() if owned.count() else "",
    }
    shot(f"money-k{k}-1-subset")
    page.click("button:has-text('Request quote')")
    page.wait_for_url("**/payments/quotes/*/")
    quote_total = cents(page.text_content("[data-quote=total]"))
    provider_rows = page.locator("[data-table=providers] tbody tr")
    payouts = [
        [cents(cell) for cell in provider_rows.nth(i).locator("td").all_text_contents()[2:]]
        for i in range(provider_rows.count())
    ]
    shot(f"money-k{k}-2-quote")
    page.click("button:has-text('Accept and pay')")
    page.wait_for_url("**/test-checkout/")
    page.click("form[action$='/test-checkout/pay/'] button[type=submit]")
    page.wait_for_url("**/payments/orders/*/")
    shot(f"money-k{k}-3-receipt")
    rows = page.locator("table tbody tr[data-version]")
    cells = [rows.nth(i).locator("td").all_text_contents() for i in range(rows.count())]
    lines = [(row[0].strip(), cents(row[3])) for row in cells]
    return {
        **preview,
        "quote_total": quote_total,
        "provider_lines": payouts,  # [gross, fee, payout] per provider
        "lines": lines,
        "total": cents(page.text_content("[data-total]")),
    }


def provider_figures(page, base: str, username: str, screenshot_dir: Path) -> dict:
    log_in(page, base, username)
    page.goto(f"{base}/payments/payouts/")
    page.screenshot(path=str(screenshot_dir / f"money-payouts-{username}.png"), full_page=True)
    figures = {
        name: cents(page.text_content(f"[data-stat={name}]"))
        for name in ("gross", "fees", "earned")
    }
    datasets = page.locator("[data-table=datasets] tbody tr[data-version] td").all_text_contents()
    figures["dataset_names"] = datasets[0::5]
    with page.expect_download() as info:
        page.click("text=Export CSV")
    rows = list(csv.DictReader(StringIO(Path(info.value.path()).read_text())))
    figures["csv"] = {
        name: sum(int(row[name]) for row in rows) for name in ("gross", "fees", "earned")
    }
    figures["csv_names"] = sorted({row["dataset_versions"] for row in rows})
    assert all(int(r["gross"]) == int(r["fees"]) + int(r["earned"]) for r in rows)
    return figures


def test_two_overlapping_purchases_reconcile_on_every_page(
    live_server, page_factory, screenshot_dir, settings
):
    settings.STRIPE_API_KEY = ""
    settings.STRIPE_API_BASE = ""
    settings.PLATFORM_CURRENCY = "usd"
    settings.PLATFORM_FEE_BPS = 1500
    buyer = make_user("bea", is_buyer=True)
    alpha = make_user("alpha", is_provider=True, display_name="Alpha Corpora")
    beta = make_user("beta", is_provider=True, display_name="Beta Texts")
    job = build_sub_cent_job(buyer=buyer, providers=[alpha, beta])
    base = live_server.url
    page = page_factory()

    def shot(name):
        page.screenshot(path=str(screenshot_dir / f"{name}.png"), full_page=True)

    log_in(page, base, "bea")
    first = buy_top_k(page, base, job.pk, 8, shot)
    second = buy_top_k(page, base, job.pk, 14, shot)

    for purchase in (first, second):
        assert purchase["price"] == purchase["quote_total"] == purchase["total"]
        assert sum(amount for _, amount in purchase["lines"]) == purchase["total"]
        assert sum(gross for gross, _, _ in purchase["provider_lines"]) == purchase["total"]
        assert all(fee + payout == gross for gross, fee, payout in purchase["provider_lines"])
        assert all(re.fullmatch(r"lst\d v1", name) for name, _ in purchase["lines"])
    assert first["owned"] == ""
    assert second["owned"].startswith("8 valued samples you already bought are left out")
    assert page.js_errors == []

    orders = list(Order.objects.filter(buyer=buyer).order_by("pk"))
    assert [order.total for order in orders] == [first["total"], second["total"]]
    assert all(order.status == Order.Status.PAID for order in orders)

    figures = [
        provider_figures(page_factory(), base, name, screenshot_dir) for name in ("alpha", "beta")
    ]
    for provider in figures:
        assert provider["csv"] == {k: provider[k] for k in ("gross", "fees", "earned")}
        assert provider["gross"] == provider["fees"] + provider["earned"]
        assert provider["csv_names"] and all("lst" in name for name in provider["csv_names"])
        assert all(re.fullmatch(r"lst\d v1", name) for name in provider["dataset_names"])
    assert sum(p["gross"] for p in figures) == sum(order.total for order in orders)
    assert sum(p["fees"] for p in figures) == sum(order.fee for order in orders)

    out = StringIO()
    call_command("payments_reconcile", stdout=out)
    assert out.getvalue().strip() == "0 mismatches"
