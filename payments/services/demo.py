"""Demo purchases (``manage.py seed_demo``): the demo buyer buys samples from every demo
provider, and the money goes the whole way, so each provider's payout report shows sales,
fees, transfers and bank payouts.

The demo valuation is computed later by a worker, so these purchases cannot be priced from
it. Each one is quoted honestly as what it is: a **demo purchase at the listings' floor
prices, valued by no model** (``quote_create`` with ``value_rate`` 0 and every sample valued
1; valuation method ``demo``, job ``demo-purchase-<n>``, shown so on the quote and receipt).
Everything after the quote is the real path on the test-mode gateway: ``order_create_from_quote``
-> ``order_checkout_start`` -> ``order_test_payment_confirm`` (the test checkout) ->
simulated payout accounts connected through the onboarding services -> ``payout_line_transfer``
-> ``provider_simulated_payout_create``.

Idempotent: purchase ``n`` is found again by its job reference, each step only runs when its
result is missing, and a second run creates and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from core.money import format_money
from payments import conf, pricing
from payments.errors import NotAllowedError
from payments.gateways import gateway_is_test_mode
from payments.gateways.base import is_simulated_account
from payments.models import Order, PayoutLine, ProviderAccount, ProviderPayout, Quote
from payments.selectors.entitlements import entitled_sample_refs
from payments.services.connect import (
    provider_account_refresh,
    provider_onboarding_link_create,
    provider_simulated_payout_create,
)
from payments.services.orders import (
    order_checkout_start,
    order_create_from_quote,
    order_test_payment_confirm,
)
from payments.services.payouts import TransferOutcome, payout_line_transfer
from payments.services.quotes import ValuationMeta, quote_create

DEMO_METHOD = "demo"
DEMO_JOB_PREFIX = "demo-purchase-"
DEMO_MODEL_IDENTITY = "none: a demo purchase at floor prices, not valued by a model"
#: Samples bought from each provider in each demo purchase (fewer when a listing has fewer).
DEMO_SAMPLES_PER_PROVIDER = 100


@dataclass(frozen=True)
class DemoSeller:
    """A demo provider and their listings, in the order the demo manifest lists them."""

    provider: AbstractBaseUser
    listings: Sequence  # marketplace.models.Listing


@dataclass
class DemoPurchasesResult:
    orders: list[Order] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # one line per thing made this time


def demo_purchase_plan(*, sellers: Sequence[DemoSeller]) -> list[tuple[DemoSeller, ...]]:
    """Which sellers each demo purchase buys from: neighbours in manifest order, wrapping
    around, so every provider sells in two purchases alongside two different providers
    (one purchase when there are only one or two)."""
    if len(sellers) <= 2:
        return [tuple(sellers)] if sellers else []
    return [(sellers[i], sellers[(i + 1) % len(sellers)]) for i in range(len(sellers))]


def demo_purchases_record(
    *, buyer: AbstractBaseUser, sellers: Sequence[DemoSeller]
) -> DemoPurchasesResult:
    """Record the demo purchases and settle them (see the module docstring)."""
    if not gateway_is_test_mode():
        raise NotAllowedError(
            "demo purchases are paid on the test-mode gateway, and Stripe is configured "
            "(STRIPE_API_KEY)"
        )
    result = DemoPurchasesResult()
    used: dict[int, int] = {}  # purchases each provider has appeared in so far
    for number, group in enumerate(demo_purchase_plan(sellers=sellers), start=1):
        picks = []
        for seller in group:
            index = used.get(seller.provider.pk, 0)
            used[seller.provider.pk] = index + 1
            if seller.listings:
                picks.append(seller.listings[index % len(seller.listings)])
        order = _purchase(buyer=buyer, number=number, listings=picks, result=result)
        if order is not None:
            result.orders.append(order)
    _settle(sellers=sellers, orders=result.orders, result=result)
    return result


def _purchase(*, buyer, number: int, listings: list, result: DemoPurchasesResult) -> Order | None:
    job_ref = f"{DEMO_JOB_PREFIX}{number}"
    quote = (
        Quote.objects.filter(buyer=buyer, valuation_method=DEMO_METHOD, valuation_job_ref=job_ref)
        .order_by("-pk")
        .first()
    )
    if quote is None or (quote.status == Quote.Status.OPEN and quote.expires_at <= timezone.now()):
        quote = _quote(buyer=buyer, job_ref=job_ref, listings=listings)
        if quote is None:
            return None
        result.created.append(
            f"quote #{quote.pk} ({job_ref}): {quote.sample_count} samples for "
            f"{format_money(quote.total, quote.currency)}"
        )
    order = Order.objects.filter(quote=quote).first()
    if order is None:
        order = order_create_from_quote(quote_id=quote.pk, buyer=buyer)
    if order.status == Order.Status.PENDING:
        if not order.checkout_session_id:
            order_checkout_start(order_id=order.pk, buyer=buyer)
        order = order_test_payment_confirm(order_id=order.pk, buyer=buyer)
        result.created.append(f"order #{order.pk} paid at the test checkout ({job_ref})")
    return order


def _quote(*, buyer, job_ref: str, listings: list) -> Quote | None:
    """A quote for up to DEMO_SAMPLES_PER_PROVIDER samples of each listing that the buyer
    neither owns nor has in another demo quote; None when nothing is left to buy."""
    from marketplace.selectors import sellable_samples

    taken = entitled_sample_refs(user=buyer)
    for lines in Quote.objects.filter(buyer=buyer, valuation_method=DEMO_METHOD).values_list(
        "lines", flat=True
    ):
        taken |= {line["sample_id"] for line in lines.get("samples", [])}
    candidates, terms = [], {}
    for listing in listings:
        chosen = 0
        for sample in sellable_samples(listing=listing).iterator(chunk_size=500):
            if chosen == DEMO_SAMPLES_PER_PROVIDER:
                break
            if str(sample.pk) in taken or sample.token_count <= 0:
                continue
            chosen += 1
            candidates.append(
                pricing.CandidateSample(
                    sample_id=str(sample.pk),
                    provider_id=str(listing.provider_id),
                    listing_id=str(listing.pk),
                    dataset_version_id=str(sample.version_id),
                    token_count=sample.token_count,
                    value=1,
                )
            )
        if chosen:
            terms[listing.pk] = pricing.ListingTerms(
                str(listing.pk), listing.floor_price_per_1k_tokens, listing.currency
            )
    if not candidates:
        return None
    return quote_create(
        buyer=buyer,
        samples_with_values=candidates,
        listing_terms=list(terms.values()),
        valuation_meta=ValuationMeta(
            job_ref=job_ref,
            model_identity=DEMO_MODEL_IDENTITY,
            target_set_hash="none",
            method=DEMO_METHOD,
        ),
        value_rate=0,
        fee_bps=conf.platform_fee_bps(),
    )


def _settle(
    *, sellers: Sequence[DemoSeller], orders: list[Order], result: DemoPurchasesResult
) -> None:
    """Connect a simulated payout account for each demo provider without an account, send
    the demo orders' transfers, and pay each provider's simulated balance out to its bank
    when this run transferred to it (or it never had a bank payout)."""
    for seller in sellers:
        provider = seller.provider
        account = ProviderAccount.objects.filter(provider=provider).first()
        if account is None or not account.stripe_account_id:
            provider_onboarding_link_create(provider=provider)
            account = provider_account_refresh(provider=provider)
            result.created.append(
                f"simulated payout account {account.stripe_account_id} ({provider.get_username()})"
            )
        elif is_simulated_account(account.stripe_account_id) and not account.payout_eligible:
            provider_account_refresh(provider=provider)  # onboarding was left unfinished
    transferred: set[int] = set()
    lines = PayoutLine.objects.filter(
        order__in=orders, status__in=(PayoutLine.Status.PENDING, PayoutLine.Status.FAILED)
    ).order_by("pk")
    for line in lines:
        if payout_line_transfer(payout_line_id=line.pk) == TransferOutcome.TRANSFERRED:
            transferred.add(line.provider_id)
    for seller in sellers:
        provider = seller.provider
        account = ProviderAccount.objects.filter(provider=provider).first()
        if account is None or not is_simulated_account(account.stripe_account_id):
            continue
        paid_before = ProviderPayout.objects.filter(
            stripe_account_id=account.stripe_account_id
        ).exists()
        if provider.pk in transferred or not paid_before:
            for payout in provider_simulated_payout_create(provider=provider):
                result.created.append(
                    f"simulated bank payout {payout.stripe_payout_id} ({provider.get_username()})"
                )
