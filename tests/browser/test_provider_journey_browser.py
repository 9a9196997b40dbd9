"""A provider's journey in headless Chromium: create a listing with its datasheet, upload a
JSONL file with one malformed line, read the validation report, ingest the valid rows, see
the ready version, publish; then a buyer finds the listing on /data/ by full-text search and
by tag and opens its page (datasheet and preview). Screenshots in var/screenshots/."""

from __future__ import annotations

import json

import pytest

from marketplace.models import DatasetVersion, Listing
from tests.browser.conftest import log_in, make_user, published_listing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


GOOD_ROWS = [
    {"id": "bl-1", "text": "The carrier shall deliver the goods to the port of discharge."},
    {"id": "bl-2", "text": "Freight is payable on shipment, ship lost or not lost."},
    {"id": "bl-3", "text": "The shipper warrants the description of the cargo is correct."},
]
# Line 3 of the upload is malformed JSON (an unterminated string).
UPLOAD = (
    json.dumps(GOOD_ROWS[0])
    + "\n"
    + json.dumps(GOOD_ROWS[1])
    + "\n"
    + '{"id": "bl-x", "text": "unterminated}\n'
    + json.dumps(GOOD_ROWS[2])
    + "\n"
).encode()


def other_published_listing(provider) -> Listing:
    """A second dataset on the market, so search and filters have something to exclude."""
    return published_listing(
        provider,
        title="Home cooking recipes",
        description="Recipes written by home cooks.",
        texts=[f"Stir the soup for {n} minutes." for n in (1, 2)],
        tags=["food"],
        floor_price=20,
    )


def test_provider_lists_data_and_buyer_finds_it(
    live_server, browser_page, page_factory, screenshot, screenshot_dir
):
    make_user("petra", is_provider=True, display_name="Petra Ports")
    other_published_listing(make_user("carl", is_provider=True))
    make_user("bruno", is_buyer=True)
    page = browser_page
    base = live_server.url

    # --- provider: create the listing with its datasheet ------------------------------------
    log_in(page, base, "petra")
    page.goto(base + "/provider/datasets/new/")
    page.fill("#id_title", "Maritime bills of lading")
    page.fill("#id_description", "Clauses from maritime bills of lading, cleaned by hand.")
    page.fill("#id_licence", "CC-BY-4.0")
    page.fill("#id_tags", "shipping, legal")
    page.fill("#id_floor_price", "0.50")
    page.fill("#id_source", "Public carrier terms published by shipping lines.")
    page.fill("#id_collection_method", "Scraped, deduplicated and proofread.")
    page.fill("#id_language", "en")
    page.fill("#id_intended_use", "Fine-tuning legal assistants for shipping.")
    page.fill("#id_known_limitations", "English only; mostly pre-2010 clauses.")
    screenshot("provider-01-listing-form")
    page.click("button:has-text('Create draft')")
    page.wait_for_url("**/provider/datasets/*/upload/")
    listing = Listing.objects.get(title="Maritime bills of lading")
    assert listing.status == Listing.Status.DRAFT
    assert listing.floor_price_per_1k_tokens == 50
    assert sorted(tag.name for tag in listing.tags.all()) == ["legal", "shipping"]
    assert page.url == f"{base}/provider/datasets/{listing.slug}/upload/"

    # --- upload a JSONL file whose line 3 is malformed ----------------------------------------
    page.set_input_files(
        "#id_file",
        files=[{"name": "bills.jsonl", "mimeType": "application/jsonl", "buffer": UPLOAD}],
    )
    page.click("button:has-text('Upload and validate')")
    page.wait_for_url("**/provider/versions/*/")
    version = DatasetVersion.objects.get(listing=listing)
    assert version.status == DatasetVersion.Status.VALIDATED
    assert page.url == f"{base}/provider/versions/{version.pk}/"
    assert page.text_content("#choice-title") == "Some rows have problems"
    assert "3 of 4 rows are valid" in page.text_content("[aria-labelledby=choice-title]")
    report = page.locator("[aria-labelledby=report-title]")
    assert "4 rows read · 3 valid · 1 invalid" in report.text_content()
    error_rows = report.locator("tbody tr")
    assert error_rows.count() == 1
    cells = [cell.strip() for cell in error_rows.first.locator("td").all_text_contents()]
    assert cells[:2] == ["3", "bad_json"]
    assert cells[2].startswith("line 3: bad JSON: Unterminated string")
    screenshot("provider-02-validation-report")

    # --- ingest the valid rows: the version becomes ready with 3 samples ----------------------
    page.click("button:has-text('Ingest the 3 valid rows')")
    page.wait_for_selector(".alert-success")
    version.refresh_from_db()
    assert version.status == DatasetVersion.Status.READY
    assert version.sample_count == 3
    assert version.valid_rows_only
    ready = page.text_content(".alert-success")
    assert ready.startswith("Ready: 3 samples,")
    assert "Invalid rows were skipped." in ready
    stats = page.locator("[aria-label='Version summary'] .stat-value").all_text_contents()
    assert stats[0] == "3"
    screenshot("provider-03-version-ready")

    # --- publish ------------------------------------------------------------------------------
    page.goto(f"{base}/provider/datasets/{listing.slug}/")
    page.once("dialog", lambda dialog: dialog.accept())  # "Publish …?" confirmation
    page.click("form[action$='/publish/'] button[type=submit]")
    page.wait_for_selector(".flashes")
    assert "is on the market" in page.text_content(".flashes")
    listing.refresh_from_db()
    assert listing.status == Listing.Status.PUBLISHED
    assert listing.current_version_id == version.pk
    screenshot("provider-04-published")
    assert page.js_errors == []

    # --- buyer, in a fresh browser context ----------------------------------------------------
    buyer_page = page_factory()
    log_in(buyer_page, base, "bruno")
    buyer_page.goto(base + "/data/")
    listed = buyer_page.eval_on_selector_all(
        "tr[data-listing]", "rows => rows.map(row => row.dataset.listing)"
    )
    assert sorted(listed) == sorted([listing.slug, "home-cooking-recipes"])

    buyer_page.fill("#id_q", "maritime lading")
    buyer_page.click("button:has-text('Search')")
    buyer_page.wait_for_url("**/data/?*")
    found = buyer_page.eval_on_selector_all(
        "tr[data-listing]", "rows => rows.map(row => row.dataset.listing)"
    )
    assert found == [listing.slug]
    assert buyer_page.text_content("#results-title") == "1 dataset"
    buyer_page.screenshot(path=str(screenshot_dir / "provider-05-buyer-search.png"), full_page=True)

    buyer_page.goto(base + "/data/")
    buyer_page.select_option("#id_tag", "shipping")
    buyer_page.click("button:has-text('Search')")
    buyer_page.wait_for_url("**/data/?*tag=shipping*")
    found = buyer_page.eval_on_selector_all(
        "tr[data-listing]", "rows => rows.map(row => row.dataset.listing)"
    )
    assert found == [listing.slug]

    buyer_page.click(f"tr[data-listing='{listing.slug}'] a")
    buyer_page.wait_for_url(f"{base}/data/{listing.slug}/")
    assert buyer_page.text_content("h1") == "Maritime bills of lading"
    datasheet = buyer_page.locator("[aria-labelledby=datasheet-title]")
    terms = [t.strip() for t in datasheet.locator("dt").all_text_contents()]
    values = [v.strip() for v in datasheet.locator("dd").all_text_contents()]
    sheet = dict(zip(terms, values, strict=True))
    assert sheet["Licence"] == "CC-BY-4.0"
    assert sheet["Language"] == "en"
    assert sheet["Tags"].split() == ["legal", "shipping"]
    assert sheet["Source"] == "Public carrier terms published by shipping lines."
    assert sheet["Collection method"] == "Scraped, deduplicated and proofread."
    assert sheet["Intended use"] == "Fine-tuning legal assistants for shipping."
    assert sheet["Known limitations"] == "English only; mostly pre-2010 clauses."
    previews = buyer_page.locator(".sample-card pre.sample-text").all_text_contents()
    assert sorted(previews) == sorted(row["text"] for row in GOOD_ROWS)
    assert "unterminated" not in buyer_page.content()
    buyer_page.screenshot(
        path=str(screenshot_dir / "provider-06-buyer-listing.png"), full_page=True
    )
    assert buyer_page.js_errors == []
