"""``seed_demo`` records demo purchases in test mode: every demo provider's payout report
shows sales, fees and payouts, the ledger balances, and a second run changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from marketplace.models import Listing
from payments.models import (
    LedgerEntry,
    LedgerTransaction,
    Order,
    OrderLine,
    PayoutLine,
    ProviderAccount,
    ProviderPayout,
    Quote,
)
from payments.selectors.ledger import ledger_is_balanced, ledger_unbalanced_transactions
from payments.selectors.reports import provider_report
from payments.services.demo import demo_purchase_plan
from tests.marketplace.conftest import run_seed_demo, sentence, write_jsonl_files

pytestmark = pytest.mark.django_db

PROVIDERS = ("alpha-lab", "beta-books", "gamma-web")


@pytest.fixture(autouse=True)
def _test_mode(settings, monkeypatch):
    settings.STRIPE_API_KEY = ""
    settings.PLATFORM_CURRENCY = "usd"
    # 12 samples per listing here: 5 per purchase leaves some for each provider's second one.
    monkeypatch.setattr("payments.services.demo.DEMO_SAMPLES_PER_PROVIDER", 5)


def write_shop_demo(folder: Path) -> Path:
    """Three providers, four listings (alpha has two), no target: no valuation is requested."""
    (folder / "data").mkdir(parents=True)
    files = {
        f"data/{slug}.jsonl": [
            {"id": f"{slug}-{i}", "text": sentence(1000 * n + i, 30)} for i in range(12)
        ]
        for n, slug in enumerate(["alpha-one", "alpha-two", "beta", "gamma"])
    }
    hashes = write_jsonl_files(folder, files)

    def dataset(slug: str, provider: str, price: int) -> dict:
        name = f"data/{slug}.jsonl"
        return {
            "slug": slug,
            "provider": provider,
            "title": slug.title(),
            "license": "MIT",
            "floor_price_cents_per_1k_tokens": price,
            "file": name,
            "sha256": hashes[name],
        }

    manifest = {
        "providers": [{"slug": slug, "name": slug.title()} for slug in PROVIDERS],
        "datasets": [
            dataset("alpha-one", "alpha-lab", 400),
            dataset("alpha-two", "alpha-lab", 250),
            dataset("beta", "beta-books", 300),
            dataset("gamma", "gamma-web", 100),
        ],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def money_state() -> dict:
    return {
        "quotes": sorted(Quote.objects.values_list("pk", "status", "total", "fee")),
        "orders": sorted(Order.objects.values_list("pk", "status", "total")),
        "payout_lines": sorted(
            PayoutLine.objects.values_list("pk", "status", "amount", "transferred_amount")
        ),
        "transactions": LedgerTransaction.objects.count(),
        "entries": LedgerEntry.objects.count(),
        "accounts": sorted(
            ProviderAccount.objects.values_list("pk", "stripe_account_id", "updated_at")
        ),
        "payouts": sorted(ProviderPayout.objects.values_list("stripe_payout_id", "amount")),
    }


def test_every_demo_provider_has_sales_fees_and_payouts_and_the_ledger_balances(tmp_path):
    demo = write_shop_demo(tmp_path / "demo")

    output = run_seed_demo("--demo-dir", str(demo))

    User = get_user_model()
    buyer = User.objects.get(username="buyer")
    orders = list(Order.objects.order_by("pk"))
    assert len(orders) == 3  # alpha+beta, beta+gamma, gamma+alpha
    for number, order in enumerate(orders, start=1):
        assert (order.buyer, order.status, order.gateway) == (buyer, "paid", "test")
        assert order.quote.valuation_method == "demo"
        assert order.quote.valuation_job_ref == f"demo-purchase-{number}"
        assert order.payout_lines.count() == 2
        assert order.lines.count() == 10
        assert f"+ demo purchase: order #{order.pk} paid at the test checkout" in output
    # Alpha sells from its first listing, then (its second purchase) from its second one.
    alpha = User.objects.get(username="alpha-lab")
    alpha_one, alpha_two = (str(Listing.objects.get(slug=s).pk) for s in ("alpha-one", "alpha-two"))
    sold_by_alpha = [
        set(order.lines.filter(provider=alpha).values_list("listing_ref", flat=True))
        for order in orders
    ]
    assert sold_by_alpha == [{alpha_one}, set(), {alpha_two}]
    # No sample is sold twice to the demo buyer.
    refs = list(OrderLine.objects.values_list("sample_ref", flat=True))
    assert len(refs) == len(set(refs))
    for slug in PROVIDERS:
        provider = User.objects.get(username=slug)
        report = provider_report(provider=provider, currency="usd")
        account = ProviderAccount.objects.get(provider=provider)
        assert account.stripe_account_id == f"test_acct_{provider.pk}"
        assert report.gross > 0, slug
        assert report.fees > 0, slug
        assert report.summary.earned == report.gross - report.fees
        assert report.summary.paid_out == report.summary.earned > 0, slug
        assert report.summary.owed == 0, slug
        assert [payout.status for payout in report.payouts] == ["paid"], slug
        assert report.payouts[0].amount == report.summary.paid_out, slug
        assert set(
            PayoutLine.objects.filter(provider=provider).values_list("status", flat=True)
        ) == {"transferred"}
    assert ledger_is_balanced(), ledger_unbalanced_transactions()

    before = money_state()
    second = run_seed_demo("--demo-dir", str(demo))

    assert "seed_demo: nothing new to create." in second
    assert money_state() == before


def test_demo_purchases_can_be_left_out_and_are_skipped_when_stripe_is_configured(
    tmp_path, settings
):
    demo = write_shop_demo(tmp_path / "demo")

    run_seed_demo("--demo-dir", str(demo), "--no-purchases")
    assert Quote.objects.count() == 0

    settings.STRIPE_API_KEY = "sk_test_not_used"
    output = run_seed_demo("--demo-dir", str(demo))

    assert "demo purchases skipped: Stripe is configured (STRIPE_API_KEY)" in output
    assert "seed_demo: nothing new to create." in output
    assert (Quote.objects.count(), Order.objects.count(), ProviderAccount.objects.count()) == (
        0,
        0,
        0,
    )


def test_the_purchase_plan_pairs_neighbours_and_wraps_around():
    assert demo_purchase_plan(sellers=[]) == []
    assert demo_purchase_plan(sellers=["a"]) == [("a",)]
    assert demo_purchase_plan(sellers=["a", "b"]) == [("a", "b")]
    assert demo_purchase_plan(sellers=["a", "b", "c", "d"]) == [
        ("a", "b"),
        ("b", "c"),
        ("c", "d"),
        ("d", "a"),
    ]
