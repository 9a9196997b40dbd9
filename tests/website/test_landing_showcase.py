"""The landing page's hero card: the demo buyer's real finished valuation when there is one
(``valuation.selectors.demo_valuation_showcase``), the illustrative card otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.text import slugify

from accounts.services import user_create
from marketplace.models import DatasetVersion, Listing, TargetTask
from valuation.models import ListingSummary, ValuationJob
from valuation.selectors import ShowcaseListing, demo_valuation_showcase

pytestmark = pytest.mark.django_db
REPO_ROOT = Path(__file__).resolve().parents[2]

User = get_user_model()
ILLUSTRATION = "Valuation · customer-support intents"

SUMMARY = {"n_scored": 2088, "listings_count": 4}
LISTINGS = [  # (title, valued, positive, mean)
    ("Instruction mix", 588, 587, 113.385),
    ("Mixed bag", 100, 40, 5.0),
    ("Noisy scrape", 100, 10, -30.5),
    ("WordNet definitions", 1300, 1300, 121.88),
]
FIDELITY = {"spearman": 0.6234, "kendall_tau": 0.45, "precision_at_10pct": 0.5, "n_holdout": 21.0}


def make_buyer(username: str):
    return user_create(
        username=username,
        email=f"{username}@example.com",
        password="pw-long-enough-123",
        is_buyer=True,
    )


def make_job(
    buyer, *, status: str = ValuationJob.Status.SUCCEEDED, name: str = "Clean instruction following"
) -> ValuationJob:
    task = TargetTask.objects.create(
        buyer=buyer,
        name=name,
        status=TargetTask.Status.READY,
        target_set_hash="a" * 64,
        sample_count=50,
    )
    job = ValuationJob.objects.create(
        buyer=buyer,
        task=task,
        target_set_hash="a" * 64,
        model_spec="smollm2-135m",
        label_fraction=0.05,
        status=status,
        pool_size=2088,
        n_labelled=104,
        summary=SUMMARY,
        fidelity=FIDELITY,
        finished_at=timezone.now() if status == ValuationJob.Status.SUCCEEDED else None,
    )
    provider = User.objects.filter(username="provider").first() or user_create(
        username="provider", email="p@example.com", password=None, is_provider=True
    )
    for title, valued, positive, mean in LISTINGS:
        listing = Listing.objects.create(
            provider=provider,
            title=title,
            slug=f"{slugify(title)}-{job.pk}",
            licence="MIT",
            floor_price_per_1k_tokens=10,
        )
        version = DatasetVersion.objects.create(
            listing=listing, number=1, original_filename="d.jsonl", format="jsonl"
        )
        ListingSummary.objects.create(
            job=job,
            version=version,
            listing=listing,
            valued=valued,
            positive=positive,
            negative=valued - positive,
            mean=mean,
        )
    return job


def test_showcase_reads_the_demo_buyers_finished_job():
    job = make_job(make_buyer("buyer"))

    showcase = demo_valuation_showcase()

    assert showcase is not None
    assert (showcase.job_id, showcase.task_name, showcase.pool_size) == (
        job.pk,
        "Clean instruction following",
        2088,
    )
    assert (showcase.target_samples, showcase.n_labelled) == (50, 104)
    assert (showcase.spearman, showcase.n_holdout) == (0.6234, 21)
    assert showcase.listings == (  # by mean value; bars relative to the largest |mean|
        ShowcaseListing(
            "WordNet definitions", valued=1300, positive=1300, mean=121.88, bar_percent=100
        ),
        ShowcaseListing("Instruction mix", valued=588, positive=587, mean=113.385, bar_percent=93),
        ShowcaseListing("Mixed bag", valued=100, positive=40, mean=5.0, bar_percent=4),
        ShowcaseListing("Noisy scrape", valued=100, positive=10, mean=-30.5, bar_percent=25),
    )
    assert [(row.mean_text, row.tone, row.positive_percent) for row in showcase.listings] == [
        ("+122", "success", 100),
        ("+113", "success", 100),
        ("+5", "warning", 40),
        ("−30.5", "danger", 10),
    ]


@pytest.mark.parametrize(
    ("mean", "text"),
    [
        (0.0134, "+0.0134"),
        (-0.00021, "−0.00021"),
        (1234.5, "+1,234"),
        (-98765.4, "−98,765"),
        (None, "—"),
    ],
)
def test_mean_text_keeps_three_significant_digits(mean, text):
    row = ShowcaseListing("x", valued=1, positive=1, mean=mean, bar_percent=0)
    assert row.mean_text == text


def test_landing_page_shows_the_real_figures(client):
    job = make_job(make_buyer("buyer"))

    response = client.get("/")

    html = response.content.decode()
    assert response.context["showcase"].job_id == job.pk
    assert f'data-showcase="job-{job.pk}"' in html
    assert "Valuation · Clean instruction following" in html
    assert "2,088 candidates scored against 50 target examples" in html
    assert (
        '<div class="sample-row" data-listing="WordNet definitions">'
        '<span class="truncate" title="1,300 of 1,300 samples help (100%)">'
        'WordNet definitions</span><div class="progress progress-success">'
        '<div class="progress-bar" style="width: 100%"></div></div>'
        '<span class="num mono">+122</span></div>'
    ) in html
    assert (
        '<div class="progress progress-danger"><div class="progress-bar" style="width: 25%">'
        '</div></div><span class="num mono">−30.5</span>'
    ) in html
    order = [
        html.index(f'data-listing="{title}"')
        for title in ("WordNet definitions", "Instruction mix", "Mixed bag", "Noisy scrape")
    ]
    assert order == sorted(order)
    assert "104 exact LinFiK labels" in html
    assert "Proxy fidelity ρ 0.62" in html
    assert ILLUSTRATION not in html and "$1,840.00" not in html


@pytest.mark.parametrize("case", ["no job", "queued", "failed", "another buyer", "setting off"])
def test_landing_page_falls_back_to_the_illustration(client, settings, case):
    demo = make_buyer("buyer")
    if case in ("queued", "failed"):
        make_job(demo, status=case)
    elif case == "another buyer":
        make_job(make_buyer("someone"))
    elif case == "setting off":
        make_job(demo)
        settings.LANDING_DEMO_VALUATION = False

    response = client.get("/")

    html = response.content.decode()
    assert response.context["showcase"] is None
    assert demo_valuation_showcase() is None
    # The illustration says it is one, and has no placeholder text.
    assert ILLUSTRATION in html and 'data-showcase="example"' in html
    assert ">Example</span>" in html and "Example figures." in html
    assert "lorem" not in html.lower() and "$1,840.00" not in html
    assert 'data-showcase="job-' not in html
    pending = "The demo valuation is running; its real figures replace these"
    assert response.context["demo_pending"] is (case == "queued")
    assert (pending in html) is (case == "queued")


def test_the_latest_finished_job_of_the_demo_buyer_is_shown():
    demo = make_buyer("buyer")
    make_job(demo, name="Older task")
    newest = make_job(demo, name="Newer task")
    make_job(demo, status=ValuationJob.Status.RUNNING, name="Running task")

    showcase = demo_valuation_showcase()

    assert (showcase.job_id, showcase.task_name) == (newest.pk, "Newer task")


def test_production_turns_the_showcase_off_by_default():
    code = "from django.conf import settings; print(settings.LANDING_DEMO_VALUATION)"
    clean = {k: v for k, v in os.environ.items() if k != "LANDING_DEMO_VALUATION"}
    values = {}
    for profile in ("base", "production"):
        env = {
            **clean,
            "DJANGO_SETTINGS_MODULE": f"config.settings.{profile}",
            "SECRET_KEY": "k3y-" + "x7Qp9" * 12,
            "ALLOWED_HOSTS": "market.example.com",
            "PAYMENTS_TEST_MODE": "true",
        }
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        values[profile] = result.stdout.strip()
    assert values == {"base": "True", "production": "False"}
