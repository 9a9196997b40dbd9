"""The Content-Security-Policy breaks nothing: pages with scripts (the API docs' Swagger UI,
the provider's sales chart) run them, and Chromium reports no violation."""

from __future__ import annotations

from tests.browser.conftest import log_in, make_user


def test_pages_with_scripts_run_under_the_csp(live_server, browser_page):
    violations: list[str] = []
    browser_page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    make_user("csp-provider", is_provider=True)
    base = live_server.url

    browser_page.goto(base + "/api/docs/")
    browser_page.wait_for_selector(".swagger-ui .opblock", timeout=15_000)
    log_in(browser_page, base, "csp-provider")
    browser_page.goto(base + "/payments/payouts/")
    browser_page.wait_for_load_state("networkidle")

    assert violations == []
    assert browser_page.js_errors == []
