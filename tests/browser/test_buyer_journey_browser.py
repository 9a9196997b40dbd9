"""A buyer's journey in headless Chromium: finished valuation -> top-k subset -> quote ->
accept -> test-mode checkout -> paid -> JSONL download. Screenshots in var/screenshots/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from payments.models import Order
from tests.browser.conftest import log_in, make_user
from tests.payments.journey import build_job_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_buyer_chooses_top_k_pays_and_downloads(live_server, browser_page, screenshot, settings):
    settings.STRIPE_API_KEY = ""
    settings.STRIPE_API_BASE = ""
    settings.PLATFORM_CURRENCY = "usd"
    buyer = make_user("bea", is_buyer=True)
    world = build_job_world(
        buyer=buyer,
        provider_a=make_user("pa", is_provider=True),
        provider_b=make_user("pb", is_provider=True),
    )
    job = world["job"]
    page = browser_page

    log_in(page, live_server.url, "bea")

    page.goto(f"{live_server.url}/valuation/jobs/{job.pk}/results/")
    screenshot("journey-01-results")
    page.click("text=Choose a subset")
    page.wait_for_url(f"{live_server.url}/valuation/jobs/{job.pk}/subset/")
    page.check("input[name=mode][value=top_k]")
    page.fill("#id_k", "2")
    page.click("button:has-text('Preview')")
    page.wait_for_selector("[data-preview=count]")
    assert page.text_content("[data-preview=count]").strip() == "2 of 4 for sale"
    screenshot("journey-02-subset-preview")

    page.click("button:has-text('Request quote')")
    page.wait_for_url("**/payments/quotes/*/")
    assert "for 2 samples" in page.text_content("h1")
    screenshot("journey-03-quote")

    page.click("button:has-text('Accept and pay')")
    page.wait_for_url("**/test-checkout/")
    screenshot("journey-04-test-checkout")
    page.click("form[action$='/test-checkout/pay/'] button[type=submit]")
    page.wait_for_url("**/payments/orders/*/")
    order = Order.objects.get(buyer=buyer)
    assert order.status == Order.Status.PAID
    screenshot("journey-05-paid-order")

    with page.expect_download() as info:
        page.click("[data-download]")
    download = info.value
    assert download.suggested_filename == f"datamarket-order-{order.pk}.jsonl"
    rows = [json.loads(line) for line in Path(download.path()).read_text().splitlines()]
    assert sorted(row["sample_id"] for row in rows) == ["la-0", "lb-0"]
    assert sorted(row["text"] for row in rows) == ["text la 0", "text lb 0"]
    assert page.js_errors == []
