"""Headless Chromium for browser tests, driven by Playwright against pytest-django's live_server.

Uses Debian's /usr/bin/chromium (or $CHROMIUM_PATH): Playwright never downloads a browser here.
Without Chromium or Playwright the tests skip, or fail when REQUIRE_SERVICES=1 (as in CI).

Fixtures:
    browser_page   a fresh Playwright page (1280x800) in its own context
    screenshot     screenshot("name") saves var/screenshots/name.png (full page)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def chromium_path() -> str | None:
    candidate = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
    if Path(candidate).is_file() and os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("chromium")


@pytest.fixture
def browser_page(monkeypatch) -> Iterator:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("the playwright Python package is not installed")
    executable = chromium_path()
    if executable is None:
        _skip_or_fail("Chromium is not installed (apt-get install chromium)")

    # Playwright's sync API keeps an asyncio loop on this thread; Django's ORM would then
    # refuse to run in the test body. The loop lives only for this test.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.js_errors = errors  # read by tests that assert a clean console
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def screenshot(browser_page) -> Callable[[str], Path]:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOT_DIR / f"{name}.png"
        browser_page.screenshot(path=str(path), full_page=True)
        return path

    return take
