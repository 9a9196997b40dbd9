"""A person's journey through accounts in real headless Chromium.

Screenshots land in var/screenshots/ for a human look at the design.
"""

import pytest

from accounts.models import Profile
from accounts.services import user_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-secret-31"


def test_signup_as_provider_and_buyer_then_logout_and_login(live_server, browser_page, screenshot):
    page = browser_page
    page.goto(live_server.url + "/")
    assert page.title() == "LLM training data, priced by impact · DataMarket"
    # The stylesheet really loaded: the hero is dark, not the browser's default white.
    hero_bg = page.eval_on_selector(".hero", "el => getComputedStyle(el).backgroundImage")
    assert "gradient" in hero_bg
    screenshot("01-landing")

    page.click("text=Sell your datasets")
    assert page.url == live_server.url + "/accounts/signup/?role=provider"
    assert page.is_checked("input[value=provider]")
    assert not page.is_checked("input[value=buyer]")
    page.check("input[value=buyer]")
    page.fill("#id_username", "ada")
    page.fill("#id_email", "ada@example.com")
    page.fill("#id_display_name", "Ada Corpus")
    page.fill("#id_organisation", "Lovelace Data")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", "not-the-same-password")
    page.click("button:has-text('Create account')")
    assert (
        page.text_content("[data-field=password2] .form-error") == "The two passwords do not match."
    )
    screenshot("02-signup-error")

    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("button:has-text('Create account')")
    page.wait_for_url(live_server.url + "/")
    assert page.text_content("h1") == "Welcome, Ada Corpus"
    assert "Welcome to DataMarket" in page.text_content(".flashes")
    cards = page.eval_on_selector_all(
        "[data-dashboard-role]", "els => els.map(e => e.dataset.dashboardRole)"
    )
    assert cards == ["provider", "buyer"]
    screenshot("03-dashboard")

    profile = Profile.objects.get(user__username="ada")
    assert (profile.is_provider, profile.is_buyer, profile.organisation) == (
        True,
        True,
        "Lovelace Data",
    )

    # Dismiss the flash message (JS removes it; without JS the checkbox hides it).
    page.click("[data-flash-close]")
    assert page.locator(".flash").count() == 0

    # The user menu opens, lists both roles, and logs out with a POST.
    page.click(".user-menu summary")
    badges = page.locator(".user-menu .badge").all_text_contents()
    assert badges == ["Provider", "Buyer"]
    screenshot("04-user-menu")
    page.click("button:has-text('Log out')")
    page.wait_for_url(live_server.url + "/")
    assert page.locator(".user-menu").count() == 0
    assert "You have been signed out." in page.text_content(".flashes")

    page.click(".topbar >> text=Log in")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "wrong-password")
    page.click("button:has-text('Log in')")
    assert "Please enter a correct username and password" in page.text_content(".alert-danger")
    screenshot("05-login-error")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(live_server.url + "/")
    assert page.text_content("h1") == "Welcome, Ada Corpus"
    assert page.js_errors == []


@pytest.mark.urls("tests.accounts.urls_for_tests")
def test_role_nav_profile_and_denied_page(live_server, browser_page, screenshot):
    user_create(
        username="grace",
        email="grace@example.com",
        password=PASSWORD,
        is_provider=True,
        is_buyer=True,
        display_name="Grace Tokens",
        organisation="Hopper Labs",
    )
    user_create(username="bob", email="bob@example.com", password=PASSWORD, is_buyer=True)
    page = browser_page
    page.goto(live_server.url + "/accounts/login/?next=/accounts/profile/")
    page.fill("#id_username", "grace")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(live_server.url + "/accounts/profile/")

    nav = page.locator(".primary-nav .nav-link").all_text_contents()
    assert nav == [
        "Dashboard",
        "Browse data",
        "My datasets",
        "Sales & payouts",
        "Target tasks",
        "Valuations",
        "Purchases",
    ]
    screenshot("06-profile")

    page.uncheck("input[value=provider]")
    page.fill("#id_organisation", "Hopper Research")
    page.click("button:has-text('Save profile')")
    page.wait_for_url(live_server.url + "/accounts/profile/")
    assert "Profile saved." in page.text_content(".flashes")
    nav = page.locator(".primary-nav .nav-link").all_text_contents()
    assert nav == ["Dashboard", "Browse data", "Target tasks", "Valuations", "Purchases"]
    profile = Profile.objects.get(user__username="grace")
    assert (profile.is_provider, profile.is_buyer, profile.organisation) == (
        False,
        True,
        "Hopper Research",
    )

    response = page.goto(live_server.url + "/test-roles/provider/")
    assert response.status == 403
    assert "This page is only for data providers." in page.text_content(".error-page")
    screenshot("07-forbidden")

    response = page.goto(live_server.url + "/no-such-page/")
    assert response.status == 404
    screenshot("08-not-found")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/")
    screenshot("09-dashboard-mobile")
    assert page.js_errors == []


@pytest.mark.urls("tests.accounts.urls_for_tests")
def test_every_role_nav_fits_beside_the_user_menu(live_server, browser_page, screenshot):
    user_create(
        username="root",
        email="root@example.com",
        password=PASSWORD,
        is_provider=True,
        is_buyer=True,
        is_staff=True,
        display_name="Margaret Hamilton-Lovelace",
    )
    page = browser_page
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(live_server.url + "/")

    assert page.locator(".primary-nav .nav-link").all_text_contents() == [
        "Dashboard",
        "Browse data",
        "My datasets",
        "Sales & payouts",
        "Target tasks",
        "Valuations",
        "Purchases",
        "Admin",
    ]
    # Wide: one row, the last link ends before the user menu.
    page.set_viewport_size({"width": 1280, "height": 800})
    last_link = page.locator(".primary-nav .nav-link").last.bounding_box()
    menu = page.locator(".user-menu").bounding_box()
    assert last_link["x"] + last_link["width"] <= menu["x"]
    assert page.locator(".topbar").bounding_box()["height"] <= 72
    screenshot("10-all-roles-nav-1280")

    # Narrower: the nav moves to its own row and every link is still on screen.
    page.set_viewport_size({"width": 1024, "height": 800})
    last_link = page.locator(".primary-nav .nav-link").last.bounding_box()
    menu = page.locator(".user-menu").bounding_box()
    assert last_link["y"] > menu["y"] + menu["height"] - 4
    assert last_link["x"] + last_link["width"] <= 1024
    screenshot("10-all-roles-nav-1024")

    # Staff see the component styleguide; Chart.js (vendored) draws its chart.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_server.url + "/styleguide/")
    page.wait_for_function("document.querySelector('canvas[data-chart]').dataMarketChart")
    chart_type = page.eval_on_selector("canvas[data-chart]", "c => c.dataMarketChart.config.type")
    assert chart_type == "bar"
    assert page.js_errors == []
    screenshot("11-styleguide")


def test_everything_works_without_javascript(live_server, page_factory, screenshot_dir):
    user_create(username="nojs", email="nojs@example.com", password=PASSWORD, is_buyer=True)
    page = page_factory(java_script_enabled=False)
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "nojs")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(live_server.url + "/")
    assert page.is_visible(".flash")

    # The close control is a <label> for a hidden checkbox: CSS hides the message.
    page.click("[data-flash-close]")
    assert not page.is_visible(".flash")

    # The user menu is a <details>: it opens without JS and logs out with a real POST.
    assert not page.is_visible("button:has-text('Log out')")
    page.click(".user-menu summary")
    assert page.is_visible("button:has-text('Log out')")
    page.screenshot(path=str(screenshot_dir / "12-no-js-menu.png"))
    page.click("button:has-text('Log out')")
    page.wait_for_url(live_server.url + "/")
    assert page.locator(".user-menu").count() == 0
    assert "You have been signed out." in page.text_content(".flashes")
