"""The four journeys of a newcomer, in headless Chromium, each starting from ``/`` and moving
only by clicking links and buttons (forms are filled in, no address is typed):

1. a visitor browses the catalogue, searches, opens a listing;
2. a new provider signs up, creates a listing, uploads a file, publishes it, opens payouts;
3. a new buyer signs up, pastes a target set, runs a real valuation (a tiny local model,
   inline), reads the results, chooses a subset, gets a quote, pays, downloads;
4. the demo buyer logs in and reads the demo valuation's results.

Every page's heading and key figures are checked; a server error, a console error or an
uncaught page error fails the journey. Full-page screenshots go to var/screenshots/newcomer-*.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from marketplace.models import DatasetVersion, Listing, TargetTask
from payments.models import Order
from tests.browser.conftest import PASSWORD, make_user, published_listing
from tests.payments.journey import build_job_world
from tests.valuation.conftest import TINY_SETTINGS, WORDS, save_tiny_gpt2
from valuation import worker_cache
from valuation.demo import DEMO_BUYER_USERNAME
from valuation.models import ListingSummary, SampleScore, ValuationJob

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Journey:
    """A page that records what must not happen, and takes numbered screenshots."""

    def __init__(self, page, name: str, screenshot_dir: Path):
        self.page, self.name, self.dir, self.shots = page, name, screenshot_dir, 0
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("response", self._response)
        page.on("dialog", lambda dialog: dialog.accept())  # confirmations: the newcomer agrees

    def _console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console error on {self.page.url}: {message.text}")

    def _response(self, response) -> None:
        if response.status >= 500:
            self.problems.append(f"server error {response.status} for {response.url}")

    def click(self, selector: str) -> None:
        """Click and wait for the page it leads to."""
        with self.page.expect_navigation():
            self.page.click(selector)

    def heading(self) -> str:
        return " ".join(self.page.text_content("h1").split())

    def shot(self, label: str) -> None:
        self.shots += 1
        path = self.dir / f"newcomer-{self.name}-{self.shots:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)

    def done(self) -> None:
        assert self.problems == []


def stat(page, label: str) -> str:
    """The value of the stat card with this label."""
    card = page.locator(".stat", has=page.locator(f".stat-label:text-is('{label}')")).first
    return " ".join(card.locator(".stat-value").text_content().split())


def sign_up(journey: Journey, *, username: str, display_name: str) -> None:
    page = journey.page
    page.fill("#id_username", username)
    page.fill("#id_email", f"{username}@example.com")
    page.fill("#id_display_name", display_name)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    journey.click("button:has-text('Create account')")
    assert journey.heading() == f"Welcome, {display_name}"


@pytest.fixture
def journey(page_factory, screenshot_dir):
    journeys: list[Journey] = []

    def start(name: str) -> Journey:
        made = Journey(page_factory(), name, screenshot_dir)
        journeys.append(made)
        return made

    return start


# --- 1. anonymous: browse -> search -> listing -----------------------------------------------


def test_visitor_browses_searches_and_opens_a_listing(live_server, journey, settings):
    settings.SITE_URL = live_server.url
    provider = make_user("lex", is_provider=True, display_name="Lexicon Co-op")
    published_listing(
        provider,
        title="Define-the-word instructions",
        tags=["dictionary"],
        floor_price=8,
        texts=[f"Define the word {word}." for word in ("cat", "tree", "pond")],
        description="Prompt: define a word. Response: its definition.",
        source="WordNet 3.0 glosses (see http://example.com/wordnet).",
    )
    published_listing(
        make_user("kjv", is_provider=True),
        title="King James Bible passages",
        tags=["scripture"],
        floor_price=1,
        texts=["In the beginning.", "Let there be light."],
    )
    visitor = journey("visitor")
    page = visitor.page

    page.goto(live_server.url + "/")
    assert visitor.heading() == "Buy the training data that actually improves your model."
    assert page.locator('[data-showcase="example"] .badge').text_content() == "Example"
    visitor.shot("home")

    visitor.click(".topbar .nav-link:has-text('Browse data')")
    assert visitor.heading() == "Browse data"
    assert page.text_content("#results-title") == "2 datasets"
    row = page.locator("tr[data-listing='define-the-word-instructions']")
    assert row.locator("[data-price]").inner_text().split() == [
        "0.08",
        "USD",
        "per",
        "1k",
        "tokens",
    ]
    assert row.locator("[data-samples]").text_content() == "3"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # no sideways scroll
    wrap = page.locator(".table-wrap")
    assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth")
    visitor.shot("catalogue")

    page.fill("#id_q", "define")
    visitor.click("button:has-text('Search')")
    assert page.text_content("#results-title") == "1 dataset"
    visitor.shot("search")

    visitor.click("tr[data-listing] a:has-text('Define-the-word instructions')")
    assert visitor.heading() == "Define-the-word instructions"
    assert stat(page, "Samples") == "3"
    assert stat(page, "Floor price") == "0.08 USD"
    cta = page.locator("[data-cta='value-this-dataset']")
    assert cta.locator("h2").text_content() == "What is this dataset worth for your model?"
    assert page.locator("[data-field=source] a").get_attribute("href") == (
        "http://example.com/wordnet"
    )
    assert page.locator(".sample-card").count() == 3
    visitor.shot("listing")

    # The call to action leads to sign-up as a buyer, and back to this listing after.
    visitor.click("[data-cta] a:has-text('Sign up to value it')")
    assert visitor.heading() == "Create your account"
    assert page.is_checked("input[name=roles][value=buyer]")
    visitor.shot("signup-from-listing")
    visitor.done()


# --- 2. provider: sign up -> listing -> upload -> publish -> payouts -------------------------

UPLOAD = "".join(
    json.dumps({"id": f"bl-{n}", "text": text}) + "\n"
    for n, text in enumerate(
        [
            "The carrier shall deliver the goods to the port of discharge.",
            "Freight is payable on shipment, ship lost or not lost.",
            "The shipper warrants the description of the cargo is correct.",
        ]
    )
).encode()


def test_provider_signs_up_lists_uploads_publishes_and_sees_payouts(live_server, journey):
    provider = journey("provider")
    page = provider.page

    page.goto(live_server.url + "/")
    provider.click("a:has-text('Sell your datasets')")
    assert provider.heading() == "Create your account"
    assert page.is_checked("input[name=roles][value=provider]")
    sign_up(provider, username="petra", display_name="Petra Ports")
    provider.shot("dashboard")

    provider.click(".topbar .nav-link:has-text('My datasets')")
    assert provider.heading() == "My datasets"
    provider.click("a:has-text('New listing')")
    page.fill("#id_title", "Maritime bills of lading")
    page.fill("#id_description", "Clauses from maritime bills of lading.")
    page.fill("#id_licence", "CC-BY-4.0")
    page.fill("#id_tags", "shipping, legal")
    page.fill("#id_floor_price", "0.50")
    page.fill("#id_language", "en")
    provider.shot("listing-form")
    provider.click("button:has-text('Create draft')")
    listing = Listing.objects.get(title="Maritime bills of lading")
    assert listing.status == Listing.Status.DRAFT

    page.set_input_files(
        "#id_file",
        files=[{"name": "bills.jsonl", "mimeType": "application/jsonl", "buffer": UPLOAD}],
    )
    provider.click("button:has-text('Upload and validate')")
    page.wait_for_selector(".alert-success")
    version = DatasetVersion.objects.get(listing=listing)
    assert version.status == DatasetVersion.Status.READY
    ready = " ".join(page.text_content(".alert-success").split())
    assert ready.startswith("Ready: 3 samples,") and ready.endswith("language en.")
    provider.shot("version-ready")

    provider.click("[data-publish] button:has-text('Publish')")  # confirmation accepted
    assert "is on the market" in page.text_content(".flashes")
    listing.refresh_from_db()
    assert listing.status == Listing.Status.PUBLISHED
    assert provider.heading() == "Maritime bills of lading"
    assert stat(page, "Samples") == "3"
    assert "No valuations yet" in page.text_content("[data-stat=valuations]")
    provider.shot("published")

    provider.click("a:has-text('See the public listing page')")
    assert provider.heading() == "Maritime bills of lading"
    assert stat(page, "Floor price") == "0.50 USD"
    provider.shot("public-listing")

    provider.click(".topbar .nav-link:has-text('Sales & payouts')")
    assert provider.heading() == "Sales & payouts"
    provider.shot("payouts")
    provider.done()


# --- 3. buyer: sign up -> pasted target -> valuation -> results -> subset -> pay -> download --


@pytest.fixture
def tiny_valuations(settings, tmp_path_factory):
    """Valuations run inline on a tiny local model, in seconds."""
    for name, value in TINY_SETTINGS.items():
        setattr(settings, name, value)
    settings.VALUATION_LOCAL_MODEL_DIR = str(
        save_tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny-gpt2")
    )
    settings.VALUATION_DEVICE = "cpu"
    settings.STRIPE_API_KEY = ""
    settings.STRIPE_API_BASE = ""
    settings.PLATFORM_CURRENCY = "usd"
    worker_cache.clear()
    yield
    worker_cache.clear()


def tiny_texts(seed: int, n: int) -> list[str]:
    return [
        " ".join(WORDS[(seed * 7 + i * 5 + k) % len(WORDS)] for k in range(6)) for i in range(n)
    ]


def test_buyer_values_a_pasted_task_buys_a_subset_and_downloads_it(
    live_server, journey, tiny_valuations
):
    provider = make_user("paula", is_provider=True, display_name="Paula Pets")
    published_listing(
        provider, title="Pet stories", tags=["pets"], floor_price=10, texts=tiny_texts(1, 6)
    )
    published_listing(
        provider, title="Weather notes", tags=["weather"], floor_price=20, texts=tiny_texts(2, 4)
    )
    buyer = journey("buyer")
    page = buyer.page

    page.goto(live_server.url + "/")
    buyer.click("a:has-text('Start buying data')")
    assert page.is_checked("input[name=roles][value=buyer]")
    sign_up(buyer, username="tess", display_name="Tess Tasks")

    # A target task, its samples pasted one per line.
    buyer.click(".topbar .nav-link:has-text('Target tasks')")
    assert buyer.heading() == "Target tasks"
    buyer.click("a:has-text('New task')")
    page.fill("#id_name", "Animal questions")
    page.fill("#id_description", "What my assistant must answer.")
    buyer.click("button:has-text('Create task')")
    assert buyer.heading() == "Animal questions"
    page.fill("#id_text", "what is the cat\nwhy the dog ran\n\nhow the bird flew over the tree\n")
    buyer.shot("paste-target-set")
    buyer.click("button:has-text('Save the target set')")
    assert "Target set saved." in page.text_content(".flashes")
    assert stat(page, "Samples") == "3"
    assert TargetTask.objects.get(name="Animal questions").original_filename == "pasted.jsonl"
    buyer.shot("target-set")

    # The valuation: exact LinFiK of both listings on the tiny model, run inline.
    buyer.click("a:has-text('Value candidate data')")
    assert buyer.heading() == "Value data for “Animal questions”"
    page.check("label:has-text('Pet stories') input")
    page.check("label:has-text('Weather notes') input")
    page.select_option("select[name=model_spec]", "local")
    page.check("input[name=method][value=linfik]")
    buyer.shot("valuation-form")
    buyer.click("button:has-text('Start valuation')")
    job = ValuationJob.objects.get(task__name="Animal questions")
    assert job.status == ValuationJob.Status.SUCCEEDED, job.error
    assert re.fullmatch(rf"Valuation #{job.pk} for “Animal questions”", buyer.heading())
    assert page.locator("[data-job-status]").text_content() == "Succeeded"
    assert page.text_content("[data-field=pool_size]") == "10"
    buyer.shot("valuation-finished")

    buyer.click(".page-actions a:has-text('See results')")
    assert buyer.heading() == "What each dataset is worth for “Animal questions”"
    assert SampleScore.objects.filter(job=job).count() == 10
    buyer.shot("results")

    # The catalogue now shows this valuation's values, as the listing page does.
    buyer.click(".topbar .nav-link:has-text('Browse data')")
    catalogue_value = page.text_content("tr[data-listing='pet-stories'] [data-average-value]")
    buyer.click("tr[data-listing='pet-stories'] a")
    assert stat(page, "Value for your task") == catalogue_value
    buyer.shot("listing-valued")

    # Back to the results through the header, then a subset, a quote, payment, download.
    buyer.click(".topbar .nav-link:has-text('Valuations')")
    assert buyer.heading() == "My valuations"
    buyer.click(f"a[href='/valuation/jobs/{job.pk}/']")
    buyer.click(".page-actions a:has-text('See results')")
    buyer.click("a:has-text('Choose a subset')")
    page.check("input[name=mode][value=top_k]")
    page.fill("#id_k", "3")
    buyer.click("button:has-text('Preview')")
    count = page.text_content("[data-preview=count]").strip()
    assert re.fullmatch(r"3 of \d+ for sale", count), count
    buyer.shot("subset")
    buyer.click("button:has-text('Request quote')")
    assert "for 3 samples" in buyer.heading()
    buyer.shot("quote")
    buyer.click("button:has-text('Accept and pay')")
    buyer.shot("checkout")
    buyer.click("form[action$='/test-checkout/pay/'] button[type=submit]")
    order = Order.objects.get(buyer__username="tess")
    assert order.status == Order.Status.PAID
    assert buyer.heading() == f"Order #{order.pk}"
    buyer.shot("paid")
    with page.expect_download() as info:
        page.click("[data-download]")
    rows = [json.loads(line) for line in Path(info.value.path()).read_text().splitlines()]
    assert len(rows) == 3
    assert {row["licence"] for row in rows} == {"MIT"}
    buyer.done()


# --- 4. the demo buyer reads the demo valuation ------------------------------------------------


def test_demo_buyer_logs_in_and_reads_the_demo_results(live_server, journey, settings):
    settings.LANDING_DEMO_VALUATION = True
    demo = make_user(DEMO_BUYER_USERNAME, is_buyer=True, display_name="Demo buyer")
    world = build_job_world(
        buyer=demo,
        provider_a=make_user("pa", is_provider=True),
        provider_b=make_user("pb", is_provider=True),
    )
    job = world["job"]
    listing = world["listings"]["la"]
    ListingSummary.objects.filter(job=job).delete()  # one listing only, so its mean leads
    ListingSummary.objects.create(
        job=job,
        version=listing.current_version,
        listing=listing,
        valued=4,
        positive=3,
        negative=1,
        duplicates=1,
        mean=2.125,
        low=-0.5,
        high=5.0,
        histogram=[1, 3],
    )
    job.summary = {
        "n_scored": 4,
        "listings_count": 1,
        "histogram": [1, 3],
        "bin_edges": [-0.5, 2.25, 5.0],
    }
    job.save(update_fields=["summary"])
    visitor = journey("demo")
    page = visitor.page

    page.goto(live_server.url + "/")
    card = page.locator(f"[data-showcase='job-{job.pk}']")
    assert "Valuation · Journey task" in card.text_content()
    assert card.locator(".sample-row .num").first.text_content() == "+2.12"
    visitor.shot("home-real-figures")

    visitor.click(".topbar a:has-text('Log in')")
    page.fill("#id_username", DEMO_BUYER_USERNAME)
    page.fill("#id_password", PASSWORD)
    visitor.click("button:has-text('Log in')")
    assert visitor.heading() == "Welcome, Demo buyer"
    visitor.click(".topbar .nav-link:has-text('Valuations')")
    assert visitor.heading() == "My valuations"
    visitor.shot("valuations")
    visitor.click(f"a[href='/valuation/jobs/{job.pk}/']")
    assert page.locator("[data-job-status]").text_content() == "Succeeded"
    visitor.click(".page-actions a:has-text('See results')")
    assert visitor.heading() == "What each dataset is worth for “Journey task”"
    assert stat(page, "Listings") == "1"
    row = page.locator(f"tr[data-listing='{listing.pk}']")
    assert row.locator("td.mono").first.text_content() == "2.12"  # the mean value
    visitor.shot("results")
    visitor.done()
