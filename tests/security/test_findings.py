"""Regression tests for the outside security review's findings: each reproduces the attack
and asserts a clear 4xx answer and that nothing was written (see docs/security.md)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIRequestFactory
from rest_framework.throttling import AnonRateThrottle

from accounts.models import Profile
from marketplace.models import DatasetVersion, Listing, Sample, TargetSample, TargetTask
from marketplace.services.listings import listing_create, listing_publish
from marketplace.services.targets import target_set_upload, target_task_create
from marketplace.services.versions import version_accept_valid_rows, version_upload
from tests.security.conftest import PASSWORD, api_for
from valuation.models import ValuationJob

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def upload_file(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def ready_listing(provider, title: str, rows: list[dict], *, publish: bool = True) -> Listing:
    listing = listing_create(
        provider=provider, title=title, licence="MIT", floor_price_per_1k_tokens=10
    )
    content = "".join(json.dumps(row) + "\n" for row in rows).encode()
    version = version_upload(
        listing=listing, actor=provider, file=io.BytesIO(content), filename="d.jsonl"
    )
    assert version.status == DatasetVersion.Status.READY, version.validation_report
    if publish:
        listing_publish(listing=listing, actor=provider)
    listing.refresh_from_db()
    return listing


# --- 3 and 5: login throttling ----------------------------------------------------------------


def test_token_endpoint_locks_out_a_username_whatever_x_forwarded_for_says(provider, settings):
    api = api_for(None)
    answers = [
        api.post(
            "/api/accounts/token/",
            {"username": "prov", "password": f"wrong-{n}"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        ).status_code
        for n in range(70)
    ]
    right = api.post(
        "/api/accounts/token/",
        {"username": "prov", "password": PASSWORD},
        format="json",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )

    limit = settings.AXES_FAILURE_LIMIT
    assert answers[: limit - 1] == [400] * (limit - 1)
    assert set(answers[limit:]) == {429}
    assert right.status_code == 429
    assert "token" not in right.json()


def test_token_endpoint_locks_out_an_address_trying_many_usernames(provider, settings):
    api = api_for(None)
    for n in range(settings.AXES_FAILURE_LIMIT):
        api.post("/api/accounts/token/", {"username": f"user{n}", "password": "x"}, format="json")

    right = api.post(
        "/api/accounts/token/", {"username": "prov", "password": PASSWORD}, format="json"
    )

    assert right.status_code == 429


def test_the_web_login_form_locks_out_too(client, provider, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "prov", "password": f"wrong-{n}"})

    locked = client.post("/accounts/login/", {"username": "prov", "password": PASSWORD})

    assert locked.status_code == 429
    assert b"Too many sign-in attempts" in locked.content
    assert "_auth_user_id" not in client.session


def test_a_success_before_the_limit_resets_the_count(client, provider, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/accounts/login/", {"username": "prov", "password": "wrong"})
    assert (
        client.post("/accounts/login/", {"username": "prov", "password": PASSWORD}).status_code
        == 302
    )


def test_api_throttling_keys_by_the_connection_not_x_forwarded_for(settings):
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0
    request = APIRequestFactory().get(
        "/", HTTP_X_FORWARDED_FOR="203.0.113.9", REMOTE_ADDR="10.0.0.1"
    )
    assert AnonRateThrottle().get_ident(request) == "10.0.0.1"


# --- 4: floor price ------------------------------------------------------------------------------


def test_a_huge_floor_price_is_refused_by_the_api_and_the_page(client, provider):
    api = api_for(provider)
    body = {"title": "Pricey", "licence": "MIT", "floor_price_per_1k_tokens": 9 * 10**18}

    response = api.post("/api/marketplace/listings/", body, format="json")
    just_over = api.post(
        "/api/marketplace/listings/",
        {**body, "floor_price_per_1k_tokens": 100_000_001},
        format="json",
    )
    client.force_login(provider)
    page = client.post(
        "/provider/datasets/new/",
        {
            "title": "Pricey",
            "licence": "MIT",
            "floor_price": "90000000000",
            "currency": "usd",
            "preview_mode": "random",
            "preview_size": 5,
        },
    )

    assert (response.status_code, just_over.status_code, page.status_code) == (400, 400, 200)
    details = response.json()["error"]["details"]
    assert "floor_price_per_1k_tokens" in details
    assert "less than or equal to 100000000" in str(details)
    assert "1000000.00" in str(page.context["form"].errors["floor_price"])
    assert Listing.objects.count() == 0


# --- 6: nested JSON and huge integers ------------------------------------------------------------

DEEP = b'{"text": "fine"}\n' + b"[" * 100_000 + b"\n"
HUGE_INT = b'{"text": "fine"}\n' + b'{"text": ' + b"7" * 5000 + b"}\n"


@pytest.mark.parametrize(
    ("content", "code"), [(DEEP, "too_deep"), (HUGE_INT, "bad_json")], ids=["deep", "huge-int"]
)
def test_a_target_set_with_hostile_json_is_a_400_with_its_line(buyer, content, code):
    task = target_task_create(buyer=buyer, name="t")
    api = api_for(buyer)

    response = api.post(
        f"/api/marketplace/target-tasks/{task.pk}/target-set/",
        {"file": upload_file("t.jsonl", content)},
        format="multipart",
    )

    assert response.status_code == 400, response.content
    report = response.json()["error"]["details"]["report"]
    assert [(e["line"], e["code"]) for e in report["errors"]] == [(2, code)]
    assert report["errors"][0]["message"].startswith("line 2: ")
    assert TargetSample.objects.count() == 0
    task.refresh_from_db()
    assert task.status == TargetTask.Status.DRAFT


@pytest.mark.parametrize(
    ("content", "code"), [(DEEP, "too_deep"), (HUGE_INT, "bad_json")], ids=["deep", "huge-int"]
)
def test_a_dataset_with_hostile_json_reports_the_line_instead_of_stopping(provider, content, code):
    listing = listing_create(
        provider=provider, title="Hostile", licence="MIT", floor_price_per_1k_tokens=1
    )
    version = version_upload(
        listing=listing, actor=provider, file=io.BytesIO(content), filename="d.jsonl"
    )

    assert version.status == DatasetVersion.Status.VALIDATED
    assert "stopped unexpectedly" not in json.dumps(version.validation_report)
    assert [(e["line"], e["code"]) for e in version.validation_report["errors"]] == [(2, code)]
    assert Sample.objects.count() == 0


# --- 7: out-of-range numbers -------------------------------------------------------------------


@pytest.fixture
def finished_job(provider, buyer):
    listing = ready_listing(provider, "Pool", [{"text": f"sample number {n}"} for n in range(4)])
    task = target_task_create(buyer=buyer, name="t")
    target_set_upload(
        task=task, actor=buyer, file=io.BytesIO(b'{"text": "target"}\n'), filename="t.jsonl"
    )
    task.refresh_from_db()
    job = ValuationJob.objects.create(
        buyer=buyer,
        task=task,
        target_set_hash=task.target_set_hash,
        model_spec="tiny",
        method="alinfik",
        label_fraction=0.5,
        status=ValuationJob.Status.SUCCEEDED,
        summary={"n_scored": 0, "listings_count": 0, "bin_edges": []},
    )
    job.versions.set([listing.current_version])
    return job


@pytest.mark.parametrize(
    "change",
    [
        {"budget": 10**25},
        {"budget": 10**10},
        {"task": 10**25},
        {"versions": [10**25]},
        {"seed": 2**40},
        {"label_fraction": 1e308 * 10},
        {"label_fraction": 2},
    ],
    ids=["budget-huge", "budget-over", "task", "version", "seed", "fraction-inf", "fraction"],
)
def test_valuation_request_numbers_out_of_range_are_400_and_create_nothing(
    buyer, finished_job, change
):
    api = api_for(buyer)
    body = {
        "task": finished_job.task_id,
        "versions": [finished_job.versions.get().pk],
        "label_fraction": 0.5,
        **change,
    }

    response = api.post("/api/valuation/jobs/", json.dumps(body), content_type="application/json")

    assert response.status_code == 400, response.content
    assert ValuationJob.objects.count() == 1


@pytest.mark.parametrize("value", ["99999999999999999999999", "-1", "abc", "0"])
def test_a_listing_filter_out_of_range_is_400_on_the_api_and_ignored_on_the_page(
    client, buyer, finished_job, value
):
    api = api_for(buyer)
    scores = api.get(f"/api/valuation/jobs/{finished_job.pk}/scores/?listing={value}")
    client.force_login(buyer)
    page = client.get(f"/valuation/jobs/{finished_job.pk}/results/?listing={value}")

    assert scores.status_code == 400
    assert "listing" in scores.json()["error"]["details"]
    assert page.status_code == 200


def test_huge_ids_in_paths_are_404(buyer):
    api = api_for(buyer)
    for url in (
        "/api/valuation/jobs/99999999999999999999999/",
        "/api/marketplace/versions/99999999999999999999999/",
        "/api/marketplace/target-tasks/99999999999999999999999/",
        "/api/payments/orders/99999999999999999999999/",
    ):
        assert api.get(url).status_code == 404, url


# --- 8: a draft's title ---------------------------------------------------------------------------


def test_valuing_another_providers_draft_does_not_name_it(
    buyer, provider, other_provider, finished_job
):
    secret = ready_listing(
        other_provider, "Secret merger memos", [{"text": "x y z"}], publish=False
    )
    api = api_for(buyer)

    response = api.post(
        "/api/valuation/jobs/",
        {"task": finished_job.task_id, "versions": [secret.current_version_id]},
        format="json",
    )

    assert response.status_code == 400
    assert "Secret merger memos" not in response.content.decode()
    assert f"version {secret.current_version_id}" in response.content.decode()
    assert ValuationJob.objects.count() == 1


# --- 9: a listing with no version ----------------------------------------------------------------


def test_the_owner_and_staff_can_open_a_listing_with_no_version(client, provider, staff):
    listing = listing_create(
        provider=provider, title="Empty", licence="MIT", floor_price_per_1k_tokens=5
    )
    for user in (provider, staff):
        client.force_login(user)
        response = client.get(f"/data/{listing.slug}/")
        assert response.status_code == 200
        assert "Empty" in response.content.decode()


# --- 10: sign-up and registered emails -----------------------------------------------------------


def test_sign_up_with_a_registered_email_says_nothing_about_it(client, provider):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newcomer",
            "email": "PROV@example.com",
            "roles": ["buyer"],
            "password1": "a-long-unusual-password-9",
            "password2": "a-long-unusual-password-9",
        },
    )

    assert response.status_code == 302
    assert Profile.objects.filter(user__username="newcomer").exists()


# --- 11: NUL characters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("d.jsonl", b'{"text": "fine"}\n{"text": "bad\\u0000text"}\n'),
        ("d.csv", b"text\nfine\nbad\x00text\n"),
        ("d.txt", b"fine\n\nbad\x00text\n"),
    ],
)
def test_nul_characters_are_row_errors_and_never_stored(provider, name, content):
    listing = listing_create(
        provider=provider, title="Nul", licence="MIT", floor_price_per_1k_tokens=1
    )
    version = version_upload(
        listing=listing, actor=provider, file=io.BytesIO(content), filename=name
    )

    errors = version.validation_report["errors"]
    assert [e["code"] for e in errors] == ["nul_character"]
    assert errors[0]["message"].startswith(f"line {errors[0]['line']}: ")
    assert Sample.objects.count() == 0  # awaiting the provider's choice: nothing ingested yet
    assert version.status == DatasetVersion.Status.VALIDATED
    accepted = version_accept_valid_rows(version=version, actor=provider)
    assert accepted.status == DatasetVersion.Status.READY
    assert list(Sample.objects.values_list("text", flat=True)) == ["fine"]


def test_a_nul_character_in_a_target_set_is_a_400(buyer):
    task = target_task_create(buyer=buyer, name="t")
    response = api_for(buyer).post(
        f"/api/marketplace/target-tasks/{task.pk}/target-set/",
        {"file": upload_file("t.csv", b"text\nbad\x00text\n")},
        format="multipart",
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"]["report"]["errors"][0]["code"] == "nul_character"
    assert TargetSample.objects.count() == 0


# --- 13: slugs ---------------------------------------------------------------------------------


def test_a_slug_does_not_reveal_that_a_private_listing_uses_it(provider, other_provider):
    alone = listing_create(
        provider=provider, title="Secret draft A", licence="MIT", floor_price_per_1k_tokens=1
    )
    Listing.objects.filter(pk=alone.pk).delete()
    listing_create(
        provider=other_provider, title="Secret draft A", licence="MIT", floor_price_per_1k_tokens=1
    )
    beside_a_draft = listing_create(
        provider=provider, title="Secret draft A", licence="MIT", floor_price_per_1k_tokens=1
    )

    shape = re.compile(r"secret-draft-a-[0-9a-f]{6}")
    assert shape.fullmatch(alone.slug) and shape.fullmatch(beside_a_draft.slug)


# --- 14: CSP and /healthz ----------------------------------------------------------------------


def test_every_page_carries_a_csp_without_inline_script(client):
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in policy.split(";") if part.strip()
    )

    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert client.get("/api/docs/")["Content-Security-Policy"] == policy


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)


def test_no_template_has_inline_script_or_event_handlers():
    templates = [
        *REPO_ROOT.joinpath("templates").rglob("*.html"),
        *REPO_ROOT.glob("*/templates/**/*.html"),
    ]
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in templates
        if INLINE_SCRIPT.search(path.read_text()) or INLINE_HANDLER.search(path.read_text())
    ]
    assert len(templates) > 30
    assert offenders == []


def test_healthz_tells_anonymous_callers_nothing_about_the_stack(client):
    body = client.get("/healthz").json()
    assert body == {"status": "ok"}


def test_the_models_enforce_the_documented_ranges_too(provider, buyer):
    from django.core.exceptions import ValidationError

    from core.validators import BUDGET_MAX, FLOOR_PRICE_MAX

    listing = Listing(
        provider=provider,
        title="t",
        slug="t",
        licence="MIT",
        currency="usd",
        floor_price_per_1k_tokens=FLOOR_PRICE_MAX + 1,
        preview_size=21,
    )
    with pytest.raises(ValidationError) as invalid:
        listing.full_clean()
    assert set(invalid.value.message_dict) == {"floor_price_per_1k_tokens", "preview_size"}

    task = target_task_create(buyer=buyer, name="t")
    job = ValuationJob(
        buyer=buyer,
        task=task,
        model_spec="tiny",
        label_fraction=0.5,
        seed=2**31,
        budget=BUDGET_MAX + 1,
    )
    with pytest.raises(ValidationError) as invalid:
        job.full_clean(exclude=["target_set_hash"])
    assert {"seed", "budget"} <= set(invalid.value.message_dict)
