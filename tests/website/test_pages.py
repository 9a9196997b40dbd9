"""Home page, role navigation and the site-wide error pages."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import constants
from django.contrib.messages.storage.fallback import FallbackStorage
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from accounts.services import user_create
from website.context_processors import NAV_SLOTS, initials, navigation
from website.views import server_error

STUB_URLS = "tests.accounts.urls_for_tests"
CORE_ONLY_URLS = "tests.accounts.urls_core_only"

CATALOGUE_NAV = ["Browse data"]
PROVIDER_NAV = ["My datasets", "Sales & payouts"]
BUYER_NAV = ["Target tasks", "Valuations", "Purchases"]


def make(username: str, roles: tuple[str, ...] = (), staff: bool = False):
    return user_create(
        username=username,
        email=f"{username}@example.com",
        password="pw-that-is-long-enough-1",
        is_provider="provider" in roles,
        is_buyer="buyer" in roles,
        is_staff=staff,
        display_name=f"{username.title()} Person",
    )


def nav_labels(response) -> list[str]:
    return [item.label for item in response.context["nav_items"]]


@pytest.mark.django_db
def test_anonymous_home_is_the_landing_page(client):
    response = client.get("/")

    assert response.status_code == 200
    assert [t.name for t in response.templates][:2] == ["home.html", "base.html"]
    html = response.content.decode()
    for section in ("providers", "buyers", "valuation"):
        assert f'data-section="{section}"' in html
    assert "LinFiK" in html and "ALinFiK" in html
    assert 'href="/accounts/signup/?role=provider"' in html
    assert 'href="/accounts/signup/?role=buyer"' in html
    assert 'href="/accounts/login/"' in html
    # The catalogue is one click away for a visitor: header, hero and footer.
    assert [(item.label, item.url) for item in response.context["nav_items"]] == [
        ("Browse data", "/data/")
    ]
    assert '<a class="nav-link" href="/data/">Browse data</a>' in html
    assert '<a href="/data/" data-cta="browse">Browse the datasets</a>' in html
    assert '<li><a href="/data/">Browse data</a></li>' in html


@pytest.mark.django_db
def test_footer_links_to_api_docs_and_health(client):
    html = client.get("/").content.decode()

    assert '<a href="/api/docs/">API docs</a>' in html
    assert '<a href="/healthz">Status</a>' in html


@pytest.mark.django_db
@pytest.mark.urls(STUB_URLS)
@pytest.mark.parametrize(
    ("roles", "staff", "expected_nav", "dashboard_roles"),
    [
        (("provider",), False, CATALOGUE_NAV + PROVIDER_NAV, ["provider"]),
        (("buyer",), False, CATALOGUE_NAV + BUYER_NAV, ["buyer"]),
        (
            ("provider", "buyer"),
            False,
            CATALOGUE_NAV + PROVIDER_NAV + BUYER_NAV,
            ["provider", "buyer"],
        ),
        ((), True, CATALOGUE_NAV + ["Admin"], ["staff"]),
        (("buyer",), True, CATALOGUE_NAV + BUYER_NAV + ["Admin"], ["buyer", "staff"]),
        ((), False, CATALOGUE_NAV, []),
    ],
)
def test_home_for_each_role_shows_its_nav(client, roles, staff, expected_nav, dashboard_roles):
    client.force_login(make("someone", roles, staff))

    response = client.get("/")

    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "dashboard.html"
    assert nav_labels(response) == expected_nav
    html = response.content.decode()
    for label in expected_nav:
        assert f">{label.replace('&', '&amp;')}</a>" in html
    for slot in NAV_SLOTS:
        if slot.label not in expected_nav:
            assert f">{slot.label.replace('&', '&amp;')}</a>" not in html
    assert [s["role"] for s in response.context["sections"]] == dashboard_roles
    assert 'action="/accounts/logout/"' in html
    assert 'href="/accounts/profile/"' in html


@pytest.mark.django_db
@pytest.mark.urls(STUB_URLS)
def test_nav_urls_and_active_item(client):
    client.force_login(make("both", ("provider", "buyer")))

    response = client.get("/market/browse/")
    request = response.wsgi_request
    items = navigation(request)["nav_items"]

    assert [(i.label, i.url, i.active) for i in items] == [
        ("Browse data", "/market/browse/", True),
        ("My datasets", "/market/datasets/mine/", False),
        ("Sales & payouts", "/payments/payouts/", False),
        ("Target tasks", "/market/tasks/", False),
        ("Valuations", "/valuation/jobs/", False),
        ("Purchases", "/payments/orders/", False),
    ]


@pytest.mark.django_db
@pytest.mark.urls(CORE_ONLY_URLS)
def test_nav_skips_slots_whose_pages_do_not_exist_yet(client):
    client.force_login(make("both", ("provider", "buyer")))

    response = client.get("/")

    assert response.status_code == 200
    assert nav_labels(response) == []
    assert [s["items"] for s in response.context["sections"]] == [[], []]
    html = response.content.decode()
    assert "No provider pages are open yet." in html
    assert "API docs" not in html  # its URL name is not registered in this URLconf


@pytest.mark.django_db
def test_navigation_context_costs_one_query(client):
    user = make("both", ("provider", "buyer"))
    request = RequestFactory().get("/")
    request.user = user

    with CaptureQueriesContext(connection) as queries:
        context = navigation(request)

    assert len(queries) == 1
    assert context["nav_roles"] == ["provider", "buyer"]
    assert context["nav_role_titles"] == ["Provider", "Buyer"]
    assert context["nav_profile"].display_name == "Both Person"


@pytest.mark.django_db
def test_404_uses_the_site_template(client):
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert [t.name for t in response.templates][:2] == ["404.html", "base.html"]
    html = response.content.decode()
    assert "We couldn't find that page" in html
    assert "<code>/no/such/page/</code>" in html


@pytest.mark.django_db
@pytest.mark.urls(STUB_URLS)
def test_403_page_explains_the_missing_role(client):
    client.force_login(make("buyer", ("buyer",)))

    response = client.get("/test-roles/provider/")

    assert response.status_code == 403
    assert [t.name for t in response.templates][:2] == ["403.html", "base.html"]
    html = response.content.decode()
    assert "This page is only for data providers." in html
    assert nav_labels(response) == CATALOGUE_NAV + BUYER_NAV


def test_500_renders_without_database_or_request_context():
    # No django_db mark: any query here would raise.
    response = server_error(RequestFactory().get("/boom/"))

    assert response.status_code == 500
    html = response.content.decode()
    assert "<title>Something went wrong · DataMarket</title>" in html
    assert 'href="/"' in html
    assert "{%" not in html and "{{" not in html


@pytest.mark.django_db
def test_flash_messages_are_dismissible_without_js(client):
    make("flashy", ("buyer",))
    response = client.post(
        "/accounts/login/",
        {"username": "flashy", "password": "pw-that-is-long-enough-1"},
        follow=True,
    )

    html = response.content.decode()
    assert '<input class="flash-toggle" type="checkbox" id="flash-1"' in html
    assert '<label class="flash-close" for="flash-1"' in html
    assert "Signed in." in html


def test_message_level_maps_to_alert_class(rf):
    from django.template.loader import render_to_string

    request = rf.get("/")
    request.session = {}
    storage = FallbackStorage(request)
    storage.add(constants.ERROR, "Broken")
    html = render_to_string("partials/messages.html", {"messages": storage})

    assert 'class="alert flash alert-error"' in html


@pytest.mark.django_db
def test_styleguide_is_for_staff_only(client):
    anonymous = client.get("/styleguide/")
    client.force_login(make("buyer", ("buyer",)))
    denied = client.get("/styleguide/")
    client.force_login(make("boss", staff=True))
    allowed = client.get("/styleguide/")

    assert anonymous.status_code == 302
    assert anonymous["Location"] == "/accounts/login/?next=/styleguide/"
    assert denied.status_code == 403
    assert "This page is only for staff." in denied.content.decode()
    assert allowed.status_code == 200
    html = allowed.content.decode()
    assert '<canvas data-chart="sg-chart-config"' in html
    assert '<script id="sg-chart-config" type="application/json">' in html
    assert 'src="/static/vendor/chartjs/chart.umd.min.js"' in html


@pytest.mark.django_db
def test_csrf_failure_view_renders_the_styled_403(rf):
    from website.views import csrf_failure

    request = rf.post("/accounts/profile/")
    request.user = AnonymousUser()

    response = csrf_failure(request, reason="CSRF token missing.")

    assert response.status_code == 403
    html = response.content.decode()
    assert "Your session expired or the form came from another site." in html
    assert 'class="topbar"' in html


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Ada Corpus", "AC"), ("ada", "AD"), ("Margaret Hamilton-Lovelace", "MH"), ("x", "X")],
)
def test_initials(name, expected):
    assert initials(name) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("roles", "staff", "has_valuations", "has_revenue"),
    [
        (("buyer",), False, True, False),
        (("provider",), False, False, False),
        ((), True, False, True),
    ],
)
def test_user_menu_links_by_role(client, roles, staff, has_valuations, has_revenue):
    client.force_login(make("menu", roles, staff))

    html = client.get("/").content.decode()

    assert ('href="/valuation/jobs/"' in html) is has_valuations
    assert ('href="/payments/revenue/"' in html) is has_revenue
