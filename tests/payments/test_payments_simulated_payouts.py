"""Test mode's simulated payout accounts: the same services and ledger states as with Stripe.

A provider connects a simulated account through the Stripe onboarding services; the test
gateway answers transfers and reversals in-process, so payout lines move pending ->
transferred and the ledger gets the same TRANSFER / REVERSAL transactions; a simulated bank
payout is recorded by ``provider_payout_apply`` as Stripe's ``payout.paid`` event is.

The standard sale (conftest): total 600, fee 120, so the providers' lines add up to 480.
"""

from __future__ import annotations

import pytest

from payments.errors import NotAllowedError
from payments.gateways.base import DeclinedError, GatewayError
from payments.gateways.test_gateway import TestGateway
from payments.models import (
    LedgerEntry,
    LedgerTransaction,
    Order,
    PayoutLine,
    ProviderAccount,
    ProviderPayout,
    TransferReversal,
)
from payments.selectors.accounts import connected_account_balances
from payments.selectors.ledger import provider_ledger_summary
from payments.services.connect import (
    provider_account_refresh,
    provider_onboarding_link_create,
    provider_simulated_payout_create,
)
from payments.services.orders import order_confirm_checkout, order_test_payment_confirm
from payments.services.payouts import TransferOutcome, payout_line_transfer
from payments.services.refunds import order_refund_record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("test_mode")]

PAYOUTS = "/payments/payouts/"
CONNECT = "/payments/connect/"
SIMULATED_PAYOUT = "/payments/connect/simulated-payout/"


@pytest.fixture
def paid_order(checkout_order, buyer, django_capture_on_commit_callbacks) -> Order:
    order = checkout_order()
    with django_capture_on_commit_callbacks(execute=True):
        return order_test_payment_confirm(order_id=order.pk, buyer=buyer)


@pytest.fixture
def connect(django_capture_on_commit_callbacks):
    """connect(provider): the payouts page's button, through the onboarding services; the
    transfers it enqueues run (Celery is eager in tests)."""

    def run(provider) -> ProviderAccount:
        with django_capture_on_commit_callbacks(execute=True):
            link = provider_onboarding_link_create(provider=provider)
            assert link == "/payments/connect/return/"
            provider_account_refresh(provider=provider)
        return ProviderAccount.objects.get(provider=provider)

    return run


def line_of(order, provider) -> PayoutLine:
    return PayoutLine.objects.get(order=order, provider=provider)


def transfer_entries(line: PayoutLine) -> list[tuple[str, int | None, int]]:
    txn = LedgerTransaction.objects.get(kind="transfer", payout_line=line)
    return sorted(
        (entry.account.kind, entry.account.provider_id, entry.amount)
        for entry in LedgerEntry.objects.filter(transaction=txn).select_related("account")
    )


# --- The gateway ----------------------------------------------------------------------------


def test_the_test_gateway_simulates_accounts_transfers_and_payouts_only():
    gateway = TestGateway()

    created = gateway.connected_account_create(provider_ref="7", email="", idempotency_key="k")
    fetched = gateway.account_fetch(account_id="test_acct_7")
    first = gateway.transfer_create(
        amount=5,
        currency="usd",
        destination="test_acct_7",
        transfer_group="order_1",
        source_transaction="test_ch_1",
        metadata={},
        idempotency_key="payout-line-3-transfer",
    )
    again = gateway.transfer_create(
        amount=5,
        currency="usd",
        destination="test_acct_7",
        transfer_group="order_1",
        source_transaction="test_ch_1",
        metadata={},
        idempotency_key="payout-line-3-transfer",
    )

    assert (created.account_id, created.payouts_enabled, created.details_submitted) == (
        "test_acct_7",
        False,
        False,
    )
    assert (fetched.charges_enabled, fetched.payouts_enabled, fetched.details_submitted) == (
        True,
        True,
        True,
    )
    assert first == again == "test_tr_payout-line-3-transfer"
    assert gateway.handles_account("test_acct_7") and not gateway.handles_account("acct_1Real")
    link = gateway.account_link_create(
        account_id="test_acct_7",
        refresh_url="http://127.0.0.1:8000/payments/connect/refresh/",
        return_url="http://127.0.0.1:8000/payments/connect/return/",
    )
    assert link == "/payments/connect/return/"
    with pytest.raises(DeclinedError, match="'acct_1Real' is not a simulated payout account"):
        gateway.transfer_create(
            amount=5,
            currency="usd",
            destination="acct_1Real",
            transfer_group="order_1",
            source_transaction="",
            metadata={},
            idempotency_key="x",
        )
    with pytest.raises(DeclinedError, match="'tr_real' is not a simulated transfer"):
        gateway.transfer_reversal_create(
            transfer_id="tr_real", amount=5, metadata={}, idempotency_key="y"
        )
    with pytest.raises(GatewayError, match="'acct_1Real' is a Stripe account"):
        gateway.account_fetch(account_id="acct_1Real")
    with pytest.raises(DeclinedError, match="the payout amount must be a positive int"):
        gateway.simulated_payout(account_id="test_acct_7", amount=0, currency="usd", number=1)


# --- Services -------------------------------------------------------------------------------


def test_connecting_a_simulated_account_transfers_the_waiting_lines_and_books_them(
    paid_order, connect, provider_a, provider_b
):
    line_a, line_b = line_of(paid_order, provider_a), line_of(paid_order, provider_b)
    assert (line_a.status, line_b.status) == ("pending", "pending")
    assert line_a.amount + line_b.amount == 480

    account = connect(provider_a)

    assert account.stripe_account_id == f"test_acct_{provider_a.pk}"
    assert account.payout_eligible
    line_a.refresh_from_db()
    assert line_a.status == PayoutLine.Status.TRANSFERRED
    assert line_a.transferred_amount == line_a.amount
    assert line_a.stripe_transfer_id == f"test_tr_payout-line-{line_a.pk}-transfer"
    assert line_a.destination_account_id == account.stripe_account_id
    assert line_a.attempts == 1
    assert transfer_entries(line_a) == sorted(
        [
            ("platform_cash", None, -line_a.amount),
            ("provider_payable", provider_a.pk, line_a.amount),
        ]
    )
    summary = provider_ledger_summary(provider=provider_a, currency="usd")
    assert (summary.earned, summary.transferred, summary.paid_out, summary.owed) == (
        line_a.amount,
        line_a.amount,
        line_a.amount,
        0,
    )
    # The provider who did not connect still waits; nothing was booked for them.
    line_b.refresh_from_db()
    assert (line_b.status, line_b.attempts) == ("pending", 0)
    assert not LedgerTransaction.objects.filter(kind="transfer", payout_line=line_b).exists()
    assert provider_ledger_summary(provider=provider_b, currency="usd").owed == line_b.amount


def test_a_connected_provider_is_transferred_as_soon_as_a_sale_is_paid(
    checkout_order, buyer, connect, provider_a, provider_b, django_capture_on_commit_callbacks
):
    connect(provider_a)
    order = checkout_order()

    with django_capture_on_commit_callbacks(execute=True):
        order_test_payment_confirm(order_id=order.pk, buyer=buyer)

    line_a, line_b = line_of(order, provider_a), line_of(order, provider_b)
    assert (line_a.status, line_a.transferred_amount) == ("transferred", line_a.amount)
    assert line_b.status == "pending"
    assert LedgerTransaction.objects.filter(kind="transfer").count() == 1
    # A second run of the transfer service changes nothing.
    assert payout_line_transfer(payout_line_id=line_a.pk) == TransferOutcome.NOTHING_TO_DO
    assert LedgerTransaction.objects.filter(kind="transfer").count() == 1


def test_a_simulated_bank_payout_pays_out_the_transferred_balance_once(
    paid_order, connect, provider_a
):
    account = connect(provider_a)
    amount = line_of(paid_order, provider_a).amount
    assert connected_account_balances(account_id=account.stripe_account_id) == {"usd": amount}

    [payout] = provider_simulated_payout_create(provider=provider_a)
    again = provider_simulated_payout_create(provider=provider_a)

    assert again == []
    assert ProviderPayout.objects.count() == 1
    assert payout.stripe_payout_id == f"test_po_{provider_a.pk}_1"
    assert (payout.provider, payout.stripe_account_id) == (provider_a, account.stripe_account_id)
    assert (payout.amount, payout.currency, payout.status) == (amount, "usd", "paid")
    assert payout.arrival_date is not None
    assert connected_account_balances(account_id=account.stripe_account_id) == {"usd": 0}
    # Paying out does not touch the platform's ledger: the money left with the transfer.
    assert LedgerTransaction.objects.filter(kind="transfer").count() == 1
    summary = provider_ledger_summary(provider=provider_a, currency="usd")
    assert (summary.paid_out, summary.owed) == (amount, 0)


def test_a_refund_reverses_a_simulated_transfer_with_the_same_services(
    paid_order, connect, provider_a, provider_b, django_capture_on_commit_callbacks
):
    account = connect(provider_a)
    line_a = line_of(paid_order, provider_a)

    with django_capture_on_commit_callbacks(execute=True):
        order_refund_record(order_id=paid_order.pk, cumulative_refunded=600, source="staff")

    reversal = TransferReversal.objects.get(payout_line=line_a)
    assert (reversal.status, reversal.amount) == ("succeeded", line_a.amount)
    assert reversal.stripe_reversal_id == f"test_trr_{reversal.idempotency_key}"
    line_a.refresh_from_db()
    assert line_a.status == PayoutLine.Status.REVERSED
    # The line not transferred yet is cancelled instead: nothing to take back.
    assert line_of(paid_order, provider_b).status == PayoutLine.Status.CANCELLED
    summary = provider_ledger_summary(provider=provider_a, currency="usd")
    assert (summary.transferred, summary.reversed, summary.paid_out, summary.owed) == (
        line_a.amount,
        line_a.amount,
        0,
        0,
    )
    assert connected_account_balances(account_id=account.stripe_account_id) == {"usd": 0}
    assert provider_simulated_payout_create(provider=provider_a) == []


def test_simulated_payouts_are_refused_without_a_simulated_account(
    paid_order, provider_a, buyer, settings
):
    with pytest.raises(NotAllowedError, match="connect a simulated payout account first"):
        provider_simulated_payout_create(provider=provider_a)
    with pytest.raises(NotAllowedError, match="does not hold the provider role"):
        provider_simulated_payout_create(provider=buyer)
    settings.STRIPE_API_KEY = "sk_test_configured"
    with pytest.raises(NotAllowedError, match="simulated bank payouts exist in test mode only"):
        provider_simulated_payout_create(provider=provider_a)
    assert ProviderPayout.objects.count() == 0
    assert line_of(paid_order, provider_a).status == "pending"


def test_with_stripe_a_simulated_account_is_never_paid_and_gives_way_to_a_stripe_one(
    fake_stripe, checkout_order, provider_a, settings, client
):
    api_key = settings.STRIPE_API_KEY
    settings.STRIPE_API_KEY = ""  # connected while the server ran in test mode
    provider_onboarding_link_create(provider=provider_a)
    provider_account_refresh(provider=provider_a)
    settings.STRIPE_API_KEY = api_key
    order = checkout_order()
    fake_stripe.complete_checkout(order.checkout_session_id)
    order_confirm_checkout(session_id=order.checkout_session_id)
    line = line_of(order, provider_a)

    outcome = payout_line_transfer(payout_line_id=line.pk)

    assert outcome == TransferOutcome.NOT_ELIGIBLE
    assert fake_stripe.calls("POST", "/v1/transfers") == []
    line.refresh_from_db()
    assert (line.status, line.attempts) == ("pending", 0)
    client.force_login(provider_a)
    page = client.get(PAYOUTS).content.decode()
    assert 'data-connect="onboarding"' in page and "Set up payouts with Stripe" in page
    # Setting up payouts with Stripe now creates a real connected account in its place.
    url = provider_onboarding_link_create(provider=provider_a)
    account = ProviderAccount.objects.get(provider=provider_a)
    assert account.stripe_account_id.startswith("acct_")
    assert not account.payout_eligible
    assert url.startswith(f"https://connect.stripe.test/setup/e/{account.stripe_account_id}/")


def test_in_test_mode_a_stripe_account_is_kept_and_not_replaced(provider_a):
    ProviderAccount.objects.create(
        provider=provider_a, stripe_account_id="acct_1Real", charges_enabled=True
    )

    with pytest.raises(NotAllowedError, match="acct_1Real is a Stripe account"):
        provider_onboarding_link_create(provider=provider_a)

    account = ProviderAccount.objects.get(provider=provider_a)
    assert (account.stripe_account_id, account.charges_enabled) == ("acct_1Real", True)
    assert provider_account_refresh(provider=provider_a) == account  # not read in test mode


# --- Pages ----------------------------------------------------------------------------------


def test_a_provider_connects_and_sees_lines_transferred_then_paid_out(
    client, paid_order, provider_a, provider_b, django_capture_on_commit_callbacks
):
    client.force_login(provider_a)
    before = client.get(PAYOUTS).content.decode()
    assert 'data-connect="test-mode"' in before
    assert "Connect a simulated payout account (test mode — no real money moves)" in before

    with django_capture_on_commit_callbacks(execute=True):
        connected = client.post(CONNECT)
    assert connected.status_code == 302 and connected["Location"] == "/payments/connect/return/"
    with django_capture_on_commit_callbacks(execute=True):
        returned = client.get(connected["Location"])  # transfers run after its commit
    assert returned["Location"] == PAYOUTS

    html = client.get(PAYOUTS).content.decode()
    line = line_of(paid_order, provider_a)
    amount = f"{line.amount // 100}.{line.amount % 100:02d} USD"
    assert "Simulated payout account connected (test mode, no real money moves)" in html
    assert 'data-connect="simulated"' in html
    assert f"test_acct_{provider_a.pk}" in html
    assert f'<strong data-stat="simulated-balance">{amount}</strong>' in html
    assert f'<p class="stat-value" data-stat="paid-out">{amount}</p>' in html
    chart = html.split('<script id="earnings-chart" type="application/json">')[1]
    assert '"label": "Transferred to your payout account"' in chart.split("</script>")[0]
    purchases = html.split('data-table="purchases"')[1].split("</table>")[0]
    assert "Transferred" in purchases and "Simulated" in purchases
    assert line.status == "transferred"

    paid = client.post(SIMULATED_PAYOUT, follow=True)

    html = paid.content.decode()
    assert f"Simulated bank payout of {amount} paid (no real money moved)." in html
    payouts = html.split('data-table="payouts"')[1].split("</table>")[0]
    assert f"test_po_{provider_a.pk}_1" in payouts and "Simulated" in payouts
    assert amount in payouts and "paid" in payouts
    assert '<strong data-stat="simulated-balance">0.00 USD</strong>' in html
    csv_rows = b"".join(client.get("/payments/payouts.csv").streaming_content).decode()
    assert f"transferred,{line.amount},test_tr_payout-line-{line.pk}-transfer," in csv_rows
    # The other provider's sale is untouched.
    assert line_of(paid_order, provider_b).status == "pending"


def test_another_provider_cannot_pay_out_someone_elses_simulated_account(
    client, paid_order, connect, provider_a, provider_b
):
    connect(provider_a)
    balance = connected_account_balances(account_id=f"test_acct_{provider_a.pk}")
    client.force_login(provider_b)

    response = client.post(SIMULATED_PAYOUT, follow=True)

    assert "No simulated bank payout: connect a simulated payout account first" in (
        response.content.decode()
    )
    assert ProviderPayout.objects.count() == 0
    assert connected_account_balances(account_id=f"test_acct_{provider_a.pk}") == balance
    assert not ProviderAccount.objects.filter(provider=provider_b).exists()


@pytest.mark.parametrize("who", ["anonymous", "buyer"])
def test_anonymous_and_buyers_cannot_connect_or_pay_out(
    client, paid_order, connect, provider_a, buyer, who
):
    connect(provider_a)
    if who == "buyer":
        client.force_login(buyer)
    accounts_before = list(ProviderAccount.objects.values_list("pk", "stripe_account_id"))

    responses = [client.post(CONNECT), client.post(SIMULATED_PAYOUT), client.get(PAYOUTS)]

    if who == "anonymous":
        assert [r.status_code for r in responses] == [302, 302, 302]
        assert all(r["Location"].startswith("/accounts/login/") for r in responses)
    else:
        assert [r.status_code for r in responses] == [403, 403, 403]
    assert list(ProviderAccount.objects.values_list("pk", "stripe_account_id")) == (accounts_before)
    assert ProviderPayout.objects.count() == 0


def test_the_simulated_payout_button_is_post_only(client, provider_a):
    client.force_login(provider_a)

    assert client.get(SIMULATED_PAYOUT).status_code == 405
    assert ProviderPayout.objects.count() == 0
