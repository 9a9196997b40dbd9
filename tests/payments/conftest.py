"""Fixtures for payments tests: users, a standard two-provider quote, the Stripe fake.

The standard sale (``sale_quote``), with value_rate 100 and a 20 % fee:

    sample  provider  version  tokens  value  floor/1k  price  payout
    a1      A         dv-a     1000    3      100       300    240
    a2      A         dv-a     1000    1      100       100     80
    b1      B         dv-b     2000    2      50        200    160
    total 600, fee 120, provider A 320, provider B 160.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator

import pytest
from django.test import Client

from accounts.services import user_create
from payments.models import Order, Quote
from payments.pricing import CandidateSample, ListingTerms
from payments.selectors.ledger import ledger_is_balanced, ledger_unbalanced_transactions
from payments.services.orders import order_checkout_start, order_create_from_quote
from payments.services.quotes import ValuationMeta, quote_create
from tests.factories import make_listing, make_sample
from tests.fakes.stripe_api import FakeStripe, sign
from tests.payments.journey import finished_job

WEBHOOK_SECRET = "whsec_test_secret_for_payments"
WEBHOOK_URL = "/payments/stripe/webhook/"
META = ValuationMeta(
    job_ref="job-42",
    model_identity="smollm2-135m@abc123",
    target_set_hash="f" * 64,
    method="alinfik",
    fidelity={"spearman": 0.93, "n_holdout": 40},
    target_task_ref="task-7",
)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any connection to a non-loopback address fails the test: nothing reaches the network."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if host not in ("127.0.0.1", "::1", "localhost"):
                raise AssertionError(f"a payments test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _ledger_stays_balanced(request) -> Iterator[None]:
    """After every test that used the database, the ledger's invariant holds."""
    uses_db = any(name in request.fixturenames for name in ("db", "transactional_db"))
    uses_db = uses_db or request.node.get_closest_marker("django_db") is not None
    if uses_db:
        request.getfixturevalue("db")
    yield
    if uses_db:
        assert ledger_is_balanced(), ledger_unbalanced_transactions()


def make_user(username: str, **flags):
    return user_create(
        username=username, email=f"{username}@example.com", password="pass-for-tests-123", **flags
    )


@pytest.fixture
def buyer(db):
    return make_user("buyer", is_buyer=True)


@pytest.fixture
def other_buyer(db):
    return make_user("other_buyer", is_buyer=True)


@pytest.fixture
def provider_a(db):
    return make_user("provider_a", is_provider=True, display_name="Provider A")


@pytest.fixture
def provider_b(db):
    return make_user("provider_b", is_provider=True, display_name="Provider B")


@pytest.fixture
def staff(db):
    return make_user("staff", is_staff=True)


@pytest.fixture
def test_mode(settings):
    """No STRIPE_API_KEY: the test-mode gateway."""
    settings.STRIPE_API_KEY = ""
    settings.STRIPE_API_BASE = ""
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.PLATFORM_CURRENCY = "usd"


@pytest.fixture
def fake_stripe(settings) -> Iterator[FakeStripe]:
    """The Stripe gateway, pointed at a local fake of the Stripe API."""
    fake = FakeStripe().start()
    settings.STRIPE_API_KEY = "sk_test_fake_key"
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.PLATFORM_CURRENCY = "usd"
    settings.SITE_URL = "https://market.test"
    yield fake
    fake.stop()


def sale_samples(provider_a, provider_b) -> tuple[list[CandidateSample], list[ListingTerms]]:
    a, b = str(provider_a.pk), str(provider_b.pk)
    samples = [
        CandidateSample("a1", a, "la", "dv-a", 1000, 3),
        CandidateSample("a2", a, "la", "dv-a", 1000, 1),
        CandidateSample("b1", b, "lb", "dv-b", 2000, 2),
    ]
    listings = [ListingTerms("la", 100, "USD"), ListingTerms("lb", 50, "USD")]
    return samples, listings


@pytest.fixture
def make_sale_quote(buyer, provider_a, provider_b) -> Callable[..., Quote]:
    def make(**overrides) -> Quote:
        samples, listings = sale_samples(provider_a, provider_b)
        arguments = dict(
            buyer=buyer,
            samples_with_values=samples,
            listing_terms=listings,
            valuation_meta=META,
            value_rate=100,
            fee_bps=2000,
        )
        arguments.update(overrides)
        return quote_create(**arguments)

    return make


@pytest.fixture
def sale_quote(make_sale_quote) -> Quote:
    return make_sale_quote()


@pytest.fixture
def checkout_order(sale_quote, buyer) -> Callable[[], Order]:
    """Accept the standard quote and start checkout on whichever gateway is configured."""

    def make() -> Order:
        order = order_create_from_quote(quote_id=sale_quote.pk, buyer=buyer)
        order_checkout_start(order_id=order.pk, buyer=buyer)
        order.refresh_from_db()
        return order

    return make


def deliver(client: Client, event: dict, *, secret: str = WEBHOOK_SECRET, timestamp=None):
    """POST a signed webhook delivery, as Stripe does."""
    payload = json.dumps(event)
    return client.post(
        WEBHOOK_URL,
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(payload, secret, timestamp=timestamp),
    )


# --- a finished valuation job to quote from (two listings, three scored samples) ---------


@pytest.fixture
def world(buyer, provider_a, provider_b, settings):
    settings.PLATFORM_FEE_BPS = 2000
    la, lb = make_listing(provider_a, "la"), make_listing(provider_b, "lb", floor=50)
    samples = {
        "a1": make_sample(la, 0, 1000),
        "a2": make_sample(la, 1, 1000),
        "b1": make_sample(lb, 0, 2000),
    }
    scored = [(samples["a1"], 3.0), (samples["a2"], 1.0), (samples["b1"], 2.0)]
    job = finished_job(buyer=buyer, task_name="t", scored=scored, listings=(la, lb))
    return {"job": job, "samples": samples, "listings": (la, lb), "task": job.task}


def ids(world, *keys) -> list[int]:
    """The primary keys of the named samples of ``world``."""
    return [world["samples"][key].pk for key in keys]
