"""Payment pages: the offline demo flow (test mode), receipts, reports, CSV, role checks."""

import csv
import io
import json
import re

import pytest

from payments.models import LedgerTransaction, Order, ProviderAccount, Quote
from payments.services.orders import order_create_from_quote, order_test_payment_confirm

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("test_mode")]


def json_island(html: str, element_id: str) -> dict:
    match = re.search(
        rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, f"no JSON island {element_id!r}"
    return json.loads(match.group(1))


@pytest.fixture
def paid_order(sale_quote, buyer):
    order = order_create_from_quote(quote_id=sale_quote.pk, buyer=buyer)
    from payments.services.orders import order_checkout_start

    order_checkout_start(order_id=order.pk, buyer=buyer)
    return order_test_payment_confirm(order_id=order.pk, buyer=buyer)


def test_the_offline_demo_flow_goes_from_quote_to_receipt(client, buyer, sale_quote):
    client.force_login(buyer)

    quote_page = client.get(f"/payments/quotes/{sale_quote.pk}/")
    accepted = client.post(f"/payments/quotes/{sale_quote.pk}/accept/")
    order = Order.objects.get(quote=sale_quote)
    checkout_page = client.get(accepted["Location"])
    paid = client.post(f"/payments/orders/{order.pk}/test-checkout/pay/")
    receipt = client.get(paid["Location"])

    assert quote_page.status_code == 200
    assert "6.00 USD for 3 samples" in quote_page.content.decode()
    assert accepted.status_code == 302
    assert accepted["Location"] == f"/payments/orders/{order.pk}/test-checkout/"
    assert "Test payment — no card is charged" in checkout_page.content.decode()
    assert paid["Location"] == f"/payments/orders/{order.pk}/"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    html = receipt.content.decode()
    assert receipt.status_code == 200
    assert "Test payment confirmed (no card was charged)." in html
    assert "<strong data-total>6.00 USD</strong>" in html
    assert "dv-a" in html and "4.00 USD" in html and "2.00 USD" in html


def test_an_expired_quote_cannot_be_accepted_from_its_page(client, buyer, make_sale_quote):
    from datetime import timedelta

    from django.utils import timezone

    quote = make_sale_quote(now=timezone.now() - timedelta(hours=1), ttl=timedelta(minutes=5))
    client.force_login(buyer)

    page = client.get(f"/payments/quotes/{quote.pk}/")
    response = client.post(f"/payments/quotes/{quote.pk}/accept/", follow=True)

    assert "Expired" in page.content.decode() and "Accept and pay" not in page.content.decode()
    assert "expired at" in response.content.decode()
    assert Order.objects.count() == 0
    assert Quote.objects.get(pk=quote.pk).status == "open"


def test_another_buyer_sees_neither_the_quote_nor_the_order(
    client, other_buyer, paid_order, sale_quote
):
    client.force_login(other_buyer)

    assert client.get(f"/payments/quotes/{sale_quote.pk}/").status_code == 404
    assert client.get(f"/payments/orders/{paid_order.pk}/").status_code == 404
    assert client.get(f"/payments/orders/{paid_order.pk}/test-checkout/").status_code == 404


def test_another_buyer_cannot_pay_or_accept_and_nothing_changes(
    client, other_buyer, checkout_order
):
    order = checkout_order()
    client.force_login(other_buyer)

    client.post(f"/payments/orders/{order.pk}/test-checkout/pay/")
    client.post(f"/payments/quotes/{order.quote_id}/accept/")

    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert Order.objects.count() == 1
    assert LedgerTransaction.objects.count() == 0


@pytest.mark.parametrize(
    ("who", "url", "status"),
    [
        ("anonymous", "/payments/payouts/", 302),
        ("buyer", "/payments/payouts/", 403),
        ("buyer", "/payments/payouts.csv", 403),
        ("provider_a", "/payments/revenue/", 403),
        ("provider_a", "/payments/orders/", 403),
        ("buyer", "/payments/revenue/", 403),
    ],
)
def test_pages_check_roles(client, request, who, url, status):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))

    response = client.get(url)

    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith("/accounts/login/")


def test_the_provider_report_shows_earnings_fees_and_pending_transfers(
    client, provider_a, paid_order
):
    client.force_login(provider_a)

    response = client.get("/payments/payouts/")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<p class="stat-value" data-stat="earned">3.20 USD</p>' in html
    assert '<p class="stat-value" data-stat="fees">0.80 USD</p>' in html  # 4.00 sales - 3.20
    assert '<p class="stat-value" data-stat="owed">3.20 USD</p>' in html
    assert '<p class="stat-value" data-stat="paid-out">0.00 USD</p>' in html
    assert 'data-connect="test-mode"' in html
    assert "Pending" in html
    chart = json_island(html, "earnings-chart")
    assert chart["type"] == "bar"
    assert chart["data"]["datasets"][0]["label"] == "Earnings (net of refunds)"
    assert chart["data"]["datasets"][0]["data"] == ["3.20"]
    assert chart["data"]["datasets"][1]["data"] == ["0.00"]
    assert "vendor/chartjs/chart.umd.min.js" in html
    # The table fallback has the same figures without JavaScript.
    periods = html.split('data-table="periods"')[1].split("</table>")[0]
    assert "3.20 USD" in periods
    datasets = html.split('data-table="datasets"')[1].split("</table>")[0]
    assert "dv-a" in datasets and "4.00 USD" in datasets and "0.80 USD" in datasets


def test_the_csv_export_streams_one_row_per_sale(client, provider_b, paid_order):
    client.force_login(provider_b)

    response = client.get("/payments/payouts.csv")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="datamarket-payouts.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "order_id",
        "paid_at",
        "currency",
        "dataset_versions",
        "dataset_version_ids",
        "samples",
        "gross",
        "fees",
        "earned",
        "refunded",
        "status",
        "transferred_amount",
        "stripe_transfer_id",
        "last_error",
    ]
    assert len(rows) == 2
    assert rows[1][0] == str(paid_order.pk)
    assert rows[1][2:] == [
        "usd",
        "dataset version dv-b",
        "dv-b",
        "1",
        "200",
        "40",
        "160",
        "0",
        "pending",
        "0",
        "",
        "",
    ]


def test_the_staff_revenue_page_reads_the_ledger(client, staff, paid_order):
    client.force_login(staff)

    response = client.get("/payments/revenue/")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-ledger="balanced"' in html
    assert '<p class="stat-value" data-stat="net-fee-revenue">1.20 USD</p>' in html
    assert '<p class="stat-value" data-stat="cash">6.00 USD</p>' in html
    assert '<p class="stat-value" data-stat="owed">4.80 USD</p>' in html
    assert '<p class="stat-value" data-stat="clearing">0.00 USD</p>' in html
    assert json_island(html, "revenue-chart")["data"]["datasets"][0]["data"] == ["1.20"]


def test_the_buyer_order_list_links_each_receipt(client, buyer, paid_order):
    client.force_login(buyer)

    html = client.get("/payments/orders/").content.decode()

    assert f'href="/payments/orders/{paid_order.pk}/"' in html
    assert "6.00 USD" in html


def test_onboarding_in_test_mode_connects_a_simulated_account(client, provider_a):
    client.force_login(provider_a)

    response = client.post("/payments/connect/", follow=True)

    html = response.content.decode()
    assert "Simulated payout account connected (test mode, no real money moves)" in html
    account = ProviderAccount.objects.get()
    assert (account.provider, account.stripe_account_id) == (
        provider_a,
        f"test_acct_{provider_a.pk}",
    )
    assert account.payout_eligible
    assert 'data-connect="simulated"' in html


def test_quote_page_shows_each_providers_line_and_the_fee(client, buyer, sale_quote):
    client.force_login(buyer)

    html = client.get(f"/payments/quotes/{sale_quote.pk}/").content.decode()

    assert "Where your money goes" in html and "How the price is made" in html
    providers = re.findall(r'<tr data-provider="(\d+)">(.*?)</tr>', html, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for _, row in providers]
    assert [cell[1:] for cell in cells] == [
        ["66.7 %", "4.00 USD", "0.80 USD", "3.20 USD"],
        ["33.3 %", "2.00 USD", "0.40 USD", "1.60 USD"],
    ]
    assert '<td class="num" data-quote="fee">1.20 USD</td>' in html
    assert '<td class="num" data-quote="net">4.80 USD</td>' in html
    assert "platform fee of 20.0 %" in html


def test_each_provider_sees_only_its_own_quote_lines(client, sale_quote, provider_a, provider_b):
    amounts = {line["provider_id"]: line["amount"] for line in sale_quote.lines["providers"]}
    assert len(set(amounts.values())) == 2  # the two lines differ, so a leak would show

    for provider, other in ((provider_a, provider_b), (provider_b, provider_a)):
        client.force_login(provider)
        html = client.get("/payments/payouts/").content.decode()
        row = re.search(rf'<tr data-quote="{sale_quote.pk}">(.*?)</tr>', html, re.S)
        assert row, "the provider's quote line is missing"
        your_line = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))[-1]
        assert your_line == money(amounts[str(provider.pk)])
        assert your_line != money(amounts[str(other.pk)])


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d} USD"


def test_the_test_checkout_is_404_once_a_real_gateway_is_configured(
    client, buyer, sale_quote, settings
):
    """An order opened in test mode must not be payable through the test checkout once
    Stripe is configured: both pages answer 404 and the order stays unpaid."""
    order = order_create_from_quote(quote_id=sale_quote.pk, buyer=buyer)
    from payments.services.orders import order_checkout_start

    order_checkout_start(order_id=order.pk, buyer=buyer)
    client.force_login(buyer)
    assert client.get(f"/payments/orders/{order.pk}/test-checkout/").status_code == 200

    settings.STRIPE_API_KEY = "sk_live_configured"
    page = client.get(f"/payments/orders/{order.pk}/test-checkout/")
    pay = client.post(f"/payments/orders/{order.pk}/test-checkout/pay/")

    assert (page.status_code, pay.status_code) == (404, 404)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert LedgerTransaction.objects.count() == 0


def test_every_page_says_test_mode_while_no_real_money_moves(client, buyer, settings):
    from tests.payments.conftest import make_user

    client.force_login(buyer)
    for url in ("/", "/data/", "/payments/orders/"):
        html = client.get(url).content.decode()
        assert "Test mode:</strong> no real money moves" in html, url

    staff = make_user("admin-viewer", is_staff=True)
    client.force_login(staff)
    admin_page = client.get("/admin/")
    assert admin_page.status_code == 200
    assert b"data-test-mode-banner" in admin_page.content

    settings.STRIPE_API_KEY = "sk_live_configured"
    assert b"data-test-mode-banner" not in client.get("/data/").content
    assert b"data-test-mode-banner" not in client.get("/admin/").content
