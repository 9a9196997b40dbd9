"""A buyer's task journey in headless Chromium: create a target task, upload its target set,
and open the valuation request form from the task page. No valuation is run (too slow for a
browser test); the journey stops at the form. Screenshots in var/screenshots/."""

from __future__ import annotations

import json

import pytest

from marketplace.models import TargetTask
from tests.browser.conftest import log_in, make_user, published_listing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


TARGET_ROWS = [
    {"id": "q1", "text": "Summarise the indemnity clause in plain English."},
    {"id": "q2", "text": "Which party bears the risk of loss in transit?"},
    {"id": "q3", "text": "List the termination rights of the supplier."},
]


def test_buyer_creates_task_uploads_target_set_and_reaches_valuation_form(
    live_server, browser_page, screenshot
):
    provider = make_user("paula", is_provider=True)
    legal = {"tags": ["legal"], "floor_price": 10}
    published_listing(
        provider,
        title="Supply contracts",
        texts=["The supplier may terminate.", "Risk passes.", "Pay."],
        **legal,
    )
    published_listing(
        provider,
        title="Carrier terms",
        texts=["Goods travel at risk.", "Freight is due."],
        **legal,
    )
    buyer = make_user("tess", is_buyer=True)
    page = browser_page
    base = live_server.url

    log_in(page, base, "tess")

    # --- create the task ----------------------------------------------------------------------
    page.goto(base + "/tasks/")
    page.goto(base + "/tasks/new/")
    page.fill("#id_name", "Contract Q&A")
    page.fill("#id_description", "Questions a legal assistant must answer.")
    page.click("button:has-text('Create task')")
    page.wait_for_url("**/tasks/*/")
    task = TargetTask.objects.get(buyer=buyer)
    assert page.url == f"{base}/tasks/{task.pk}/"
    assert page.text_content("h1") == "Contract Q&A"
    assert "Task created. Upload its target set." in page.text_content(".flashes")
    assert page.text_content("#upload-title") == "Upload the target set"
    assert "No target set yet." in page.text_content("[aria-labelledby=samples-title]")

    # --- upload the target set ----------------------------------------------------------------
    content = "".join(json.dumps(row) + "\n" for row in TARGET_ROWS).encode()
    page.set_input_files(
        "#id_file",
        files=[{"name": "targets.jsonl", "mimeType": "application/jsonl", "buffer": content}],
    )
    page.click("form[enctype='multipart/form-data'] button:has-text('Save the target set')")
    page.wait_for_selector("text=Target set saved.")
    task.refresh_from_db()
    assert task.sample_count == 3
    assert task.original_filename == "targets.jsonl"
    stats = page.locator("[aria-label='Target set'] .stat-value").all_text_contents()
    assert stats[0].strip() == "3"
    assert page.text_content("#upload-title") == "Replace the target set"
    shown = page.locator(
        "[aria-labelledby=samples-title] .sample-card pre.sample-text"
    ).all_text_contents()
    assert shown == [row["text"] for row in TARGET_ROWS]
    screenshot("task-01-target-set")

    # --- the task page's button opens the valuation request form ------------------------------
    page.click("a:has-text('Value candidate data')")
    page.wait_for_url(f"{base}/valuation/tasks/{task.pk}/value/")
    assert page.text_content("h1") == "Value data for “Contract Q&A”"
    form = page.locator("form.form[method=post]")
    pool = form.locator("input[type=checkbox][name=listings]")
    assert pool.count() == 2
    pool_labels = [
        text.strip() for text in form.locator("label:has(input[name=listings])").all_text_contents()
    ]
    assert pool_labels == [
        "Carrier terms (v1, 2 samples)",
        "Supply contracts (v1, 3 samples)",
    ]
    assert form.locator("select[name=model_spec]").count() == 1
    assert form.locator("select[name=model_spec]").input_value() == "smollm2-135m"
    methods = form.locator("input[type=radio][name=method]")
    assert methods.count() >= 2
    assert form.locator("input[type=radio][name=method]:checked").input_value() == "alinfik"
    assert form.locator("input[name=label_fraction]").input_value() == "0.1"
    assert form.locator("input[name=seed]").input_value() == "0"
    assert form.locator("button:has-text('Start valuation')").is_visible()
    screenshot("task-02-valuation-form")
    assert page.js_errors == []
