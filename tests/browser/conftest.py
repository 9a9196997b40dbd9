"""Headless Chromium for browser tests, driven by Playwright against pytest-django's live_server.

Uses Debian's /usr/bin/chromium (or $CHROMIUM_PATH): Playwright never downloads a browser here.
Without Chromium or Playwright the tests skip, or fail when REQUIRE_SERVICES=1 (as in CI).

Fixtures:
    chromium       the launched Playwright browser
    page_factory   page_factory(**context_options) -> a page in a fresh context
    browser_page   page_factory() (1280x800); page.js_errors lists uncaught page errors
    screenshot     screenshot("name") saves var/screenshots/name.png of browser_page
    screenshot_dir var/screenshots/, created

Helpers: ``make_user(username, **roles)`` (password ``PASSWORD``), ``log_in(page,
base_url, username)`` and ``published_listing(provider, ...)``. Uploaded files go to a
per-test storage folder (autouse).
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
PASSWORD = "a-long-browser-secret-59"


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):
    settings.STORAGE_ROOT = tmp_path / "storage"
    settings.MEDIA_ROOT = tmp_path / "storage"


def make_user(username: str, **flags):
    from accounts.services import user_create

    return user_create(
        username=username, email=f"{username}@example.com", password=PASSWORD, **flags
    )


def published_listing(
    provider, *, title: str, texts: list[str], tags: list[str], floor_price: int, **fields
):
    """A listing of ``texts`` ingested and published through the services, as in the UI."""
    import io
    import json

    from django.utils.text import slugify

    from marketplace.models import DatasetVersion
    from marketplace.services.listings import listing_create, listing_publish
    from marketplace.services.versions import version_upload

    fields.setdefault("slug", slugify(title))  # tests name it by its title's slug
    listing = listing_create(
        provider=provider,
        title=title,
        licence="MIT",
        floor_price_per_1k_tokens=floor_price,
        currency="usd",
        tags=tags,
        **fields,
    )
    rows = "".join(json.dumps({"text": text}) + "\n" for text in texts)
    version = version_upload(
        listing=listing, actor=provider, file=io.BytesIO(rows.encode()), filename="d.jsonl"
    )
    assert version.status == DatasetVersion.Status.READY, version.validation_report
    listing_publish(listing=listing, actor=provider)
    return listing


def log_in(page, base_url: str, username: str) -> None:
    page.goto(base_url + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


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
def chromium(monkeypatch) -> Iterator:
    """A launched Playwright Chromium browser; make contexts with ``new_context(...)``."""
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
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page_factory(chromium) -> Iterator[Callable]:
    """page_factory(**context_options) -> a page in a fresh context (1280x800 unless told),
    e.g. ``page_factory(java_script_enabled=False)``. Uncaught JS errors go to
    ``page.js_errors``. Contexts close after the test."""
    contexts = []

    def make(**context_options):
        context_options.setdefault("viewport", {"width": 1280, "height": 800})
        context = chromium.new_context(**context_options)
        contexts.append(context)
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.js_errors = errors
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def browser_page(page_factory):
    return page_factory()


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR


@pytest.fixture
def screenshot(browser_page, screenshot_dir) -> Callable[[str], Path]:
    def take(name: str) -> Path:
        path = screenshot_dir / f"{name}.png"
        browser_page.screenshot(path=str(path), full_page=True)
        return path

    return take
