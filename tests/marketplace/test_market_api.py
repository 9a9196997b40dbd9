"""REST API: provider flows, buyer browsing, target tasks, and the permission matrix."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.services import auth_token_get_or_create
from marketplace.models import DatasetVersion, Listing, Sample, TargetSample, TargetTask
from marketplace.services.listings import listing_publish, listing_take_down
from marketplace.services.targets import target_set_upload, target_task_create
from marketplace.services.versions import version_upload
from tests.marketplace.conftest import jsonl, sentence

API = "/api/marketplace"


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def file(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


# --- provider flow --------------------------------------------------------------------------


@pytest.mark.django_db
def test_provider_flow_over_the_api(provider_a):
    api = client_for(provider_a)
    created = api.post(
        f"{API}/listings/",
        {
            "title": "Contracts",
            "licence": "cc-by-4.0",
            "floor_price_per_1k_tokens": 120,
            "tags": ["law"],
            "source": "Our archive",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    slug = body["slug"]
    assert re.fullmatch(r"contracts-[0-9a-f]{6}", slug)
    assert (body["status"], body["licence"], body["tags"]) == ("draft", "CC-BY-4.0", ["law"])
    assert body["datasheet"]["source"] == "Our archive"
    assert body["current_version"] is None

    refused = api.post(f"{API}/listings/{slug}/publish/")
    assert refused.status_code == 409
    assert refused.json() == {
        "error": {
            "code": "no_ready_version",
            "message": "Upload a dataset version and wait until it is ready to publish.",
            "details": {},
        }
    }
    assert Listing.objects.get(slug=slug).status == Listing.Status.DRAFT

    content = b'{"id": "a", "text": "first good row"}\n{oops\n{"id": "c", "text": "third row"}\n'
    uploaded = api.post(
        f"{API}/listings/{slug}/versions/",
        {"file": file("v1.jsonl", content)},
        format="multipart",
    )
    assert uploaded.status_code == 201, uploaded.json()
    version = uploaded.json()
    assert (version["number"], version["status"], version["format"]) == (1, "validated", "jsonl")
    report = version["validation_report"]
    assert (report["total_rows"], report["valid_rows"], report["invalid_rows"]) == (3, 2, 1)
    assert report["errors"][0]["line"] == 2
    assert report["errors"][0]["code"] == "bad_json"

    status = api.get(f"{API}/versions/{version['id']}/").json()
    assert status["status"] == "validated"
    accepted = api.post(f"{API}/versions/{version['id']}/accept/")
    assert accepted.status_code == 200
    accepted = accepted.json()
    assert (accepted["status"], accepted["sample_count"], accepted["valid_rows_only"]) == (
        "ready",
        2,
        True,
    )
    assert accepted["progress"]["phase"] == "done"
    assert accepted["duplicates"] == {
        "samples": 2,
        "exact": 0,
        "near": 0,
        "sellable": 2,
        "sellable_tokens": accepted["token_count"],
    }

    published = api.post(f"{API}/listings/{slug}/publish/")
    assert published.status_code == 200
    assert published.json()["status"] == "published"
    detail = client_for().get(f"{API}/listings/{slug}/").json()
    assert detail["current_version"]["sample_count"] == 2
    assert sorted(sample["external_id"] for sample in detail["preview"]) == ["a", "c"]
    assert "takedown_reason" not in detail

    patched = api.patch(f"{API}/listings/{slug}/", {"floor_price_per_1k_tokens": 99}, format="json")
    assert patched.status_code == 200
    assert patched.json()["floor_price_per_1k_tokens"] == 99
    assert api.post(f"{API}/listings/{slug}/unpublish/").json()["status"] == "unpublished"


@pytest.mark.django_db
def test_upload_errors_are_clear(provider_a, make_listing, settings):
    make_listing(provider_a, title="Target")
    api = client_for(provider_a)
    missing = api.post(f"{API}/listings/target/versions/", {}, format="multipart")
    assert missing.status_code == 400
    assert missing.json()["error"]["details"] == {"file": ["No file was submitted."]}
    unknown = api.post(
        f"{API}/listings/target/versions/", {"file": file("a.xlsx", b"x")}, format="multipart"
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"]["details"]["file"][0].startswith(
        "cannot tell the format of 'a.xlsx'"
    )
    settings.UPLOAD_MAX_BYTES = 3
    too_big = api.post(
        f"{API}/listings/target/versions/", {"file": file("a.txt", b"hello")}, format="multipart"
    )
    assert too_big.json()["error"]["details"] == {
        "file": ["a.txt is 5 bytes; the upload limit is 3 bytes."]
    }
    assert DatasetVersion.objects.count() == 0


@pytest.mark.django_db
def test_duplicates_endpoint_shows_the_original_listing(provider_a, provider_b, ready_listing):
    rows = [{"id": f"o{i}", "text": sentence(i)} for i in range(3)]
    ready_listing(provider_a, rows, title="Original")
    copier = ready_listing(provider_b, rows[:1] + [{"id": "mine", "text": sentence(9)}], title="C")
    response = client_for(provider_b).get(f"{API}/versions/{copier.current_version_id}/duplicates/")
    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "external_id": "o0",
            "position": 0,
            "source_line": 1,
            "duplicate_kind": "exact",
            "original": {
                "external_id": "o0",
                "same_listing": False,
                "listing": {"slug": "original", "title": "Original", "provider": "provider_a"},
            },
        }
    ]


# --- buyer browsing -------------------------------------------------------------------------


@pytest.mark.django_db
def test_search_filters_sort_and_pagination(provider_a, provider_b, buyer_a, ready_listing):
    ready_listing(
        provider_a,
        [{"text": sentence(1)}],
        title="Cheap news",
        tags=["news"],
        floor_price_per_1k_tokens=5,
    )
    ready_listing(
        provider_b,
        [{"text": sentence(2)}],
        title="Pricey news",
        tags=["news"],
        floor_price_per_1k_tokens=500,
        licence="MIT",
    )
    ready_listing(
        provider_b,
        [{"text": sentence(3)}],
        title="Code",
        tags=["code"],
        floor_price_per_1k_tokens=50,
    )
    api = client_for(buyer_a)

    page = api.get(f"{API}/listings/", {"tag": "news", "sort": "price_desc", "page_size": 1})
    assert page.status_code == 200
    body = page.json()
    assert body["count"] == 2
    assert [item["title"] for item in body["results"]] == ["Pricey news"]
    assert "page=2" in body["next"]
    second = api.get(
        f"{API}/listings/", {"tag": "news", "sort": "price_desc", "page_size": 1, "page": 2}
    ).json()
    assert [item["title"] for item in second["results"]] == ["Cheap news"]

    assert [
        i["title"]
        for i in api.get(f"{API}/listings/", {"q": "news", "licence": "MIT"}).json()["results"]
    ] == ["Pricey news"]
    assert [
        i["title"]
        for i in api.get(f"{API}/listings/", {"price_max": 60, "sort": "price_asc"}).json()[
            "results"
        ]
    ] == ["Cheap news", "Code"]

    bad = api.get(f"{API}/listings/", {"price_min": "cheap", "sort": "random"})
    assert bad.status_code == 400
    assert set(bad.json()["error"]["details"]) == {"price_min", "sort"}
    inverted = api.get(f"{API}/listings/", {"price_min": 10, "price_max": 5})
    assert inverted.json()["error"]["details"] == {"price_min": ["price_min is above price_max."]}


@pytest.mark.django_db
def test_mine_lists_own_listings_in_every_state(provider_a, provider_b, ready_listing):
    ready_listing(provider_a, [{"text": sentence(1)}], title="Mine published")
    ready_listing(provider_a, [{"text": sentence(2)}], title="Mine draft", publish=False)
    ready_listing(provider_b, [{"text": sentence(3)}], title="Theirs")
    mine = client_for(provider_a).get(f"{API}/listings/", {"mine": "true"}).json()
    assert sorted(item["title"] for item in mine["results"]) == ["Mine draft", "Mine published"]
    assert client_for().get(f"{API}/listings/", {"mine": "true"}).status_code == 401
    token = auth_token_get_or_create(user=provider_a)
    with_token = APIClient()
    with_token.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert with_token.get(f"{API}/listings/", {"mine": "true"}).json()["count"] == 2


# --- target tasks ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_target_task_flow(buyer_a):
    api = client_for(buyer_a)
    created = api.post(f"{API}/target-tasks/", {"name": "Legal QA"}, format="json")
    assert created.status_code == 201
    task_id = created.json()["id"]
    rows = [{"id": "t1", "prompt": "What is a tort?", "response": "A civil wrong."}]
    uploaded = api.post(
        f"{API}/target-tasks/{task_id}/target-set/",
        {"file": file("target.jsonl", jsonl(rows))},
        format="multipart",
    )
    assert uploaded.status_code == 200
    assert (uploaded.json()["status"], uploaded.json()["sample_count"]) == ("ready", 1)
    samples = api.get(f"{API}/target-tasks/{task_id}/samples/").json()["results"]
    assert [(s["external_id"], s["prompt"]) for s in samples] == [("t1", "What is a tort?")]

    invalid = api.post(
        f"{API}/target-tasks/{task_id}/target-set/",
        {"file": file("target.jsonl", b'{"text": "ok"}\n{"text": 5}\n')},
        format="multipart",
    )
    assert invalid.status_code == 400
    error = invalid.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"]["report"]["errors"] == [
        {
            "line": 2,
            "code": "not_a_string",
            "message": "line 2: 'text' must be a string, got number",
            "field": "text",
        }
    ]
    assert error["details"]["report"]["total_rows"] == 2
    assert TargetSample.objects.filter(task_id=task_id).count() == 1


# --- permission matrix ----------------------------------------------------------------------

ROLES = ("anonymous", "provider_a", "provider_b", "buyer_a", "buyer_b", "staff")


@pytest.fixture
def world(provider_a, provider_b, buyer_a, buyer_b, staff, make_listing):
    published = make_listing(provider_a, title="Pub")
    version_upload(
        listing=published,
        actor=provider_a,
        file=io.BytesIO(jsonl([{"id": "p1", "text": sentence(1)}])),
        filename="p.jsonl",
    )
    listing_publish(listing=published, actor=provider_a)
    draft = make_listing(provider_a, title="Draft")
    ready = version_upload(
        listing=draft,
        actor=provider_a,
        file=io.BytesIO(jsonl([{"id": "d1", "text": sentence(2)}])),
        filename="d.jsonl",
    )
    pending = version_upload(
        listing=draft,
        actor=provider_a,
        file=io.BytesIO(b'{"text": "valid row here"}\n{broken\n'),
        filename="d2.jsonl",
    )
    assert pending.status == DatasetVersion.Status.VALIDATED
    task = target_task_create(buyer=buyer_a, name="Private task")
    target_set_upload(
        task=task,
        actor=buyer_a,
        file=io.BytesIO(jsonl([{"text": "secret target"}])),
        filename="t.jsonl",
    )
    return {
        "users": {
            "anonymous": None,
            "provider_a": provider_a,
            "provider_b": provider_b,
            "buyer_a": buyer_a,
            "buyer_b": buyer_b,
            "staff": staff,
        },
        "pub": published,
        "draft": draft,
        "ready_version": ready,
        "pending": pending,
        "task": task,
    }


def database_state() -> str:
    state = {
        "listings": list(Listing.objects.order_by("pk").values()),
        "versions": list(DatasetVersion.objects.order_by("pk").values()),
        "samples": list(Sample.objects.order_by("pk").values_list("pk", "duplicate_of_id")),
        "tasks": list(TargetTask.objects.order_by("pk").values()),
        "target_samples": list(TargetSample.objects.order_by("pk").values_list("pk", "text")),
        "tags": list(Listing.tags.through.objects.order_by("pk").values()),
    }
    return json.dumps(state, default=str, sort_keys=True)


# (method, url template, payload kind, expected status per role in ROLES order)
MATRIX = [
    ("get", "/listings/", None, (200, 200, 200, 200, 200, 200)),
    ("get", "/listings/{pub}/", None, (200, 200, 200, 200, 200, 200)),
    ("get", "/listings/{draft}/", None, (404, 200, 404, 404, 404, 200)),
    ("get", "/listings/{draft}/versions/", None, (404, 200, 404, 404, 404, 200)),
    ("get", "/listings/{pub}/versions/", None, (200, 200, 200, 200, 200, 200)),
    ("get", "/versions/{pending}/", None, (401, 200, 404, 404, 404, 200)),
    ("get", "/versions/{pub_version}/", None, (401, 200, 404, 404, 404, 200)),
    ("get", "/versions/{pub_version}/duplicates/", None, (401, 200, 404, 404, 404, 200)),
    ("get", "/target-tasks/", None, (401, 200, 200, 200, 200, 200)),
    ("get", "/target-tasks/{task}/", None, (401, 404, 404, 200, 404, 200)),
    ("get", "/target-tasks/{task}/samples/", None, (401, 404, 404, 200, 404, 200)),
    ("post", "/listings/", "listing", (401, 201, 201, 403, 403, 403)),
    ("patch", "/listings/{pub}/", "title", (401, 200, 403, 403, 403, 403)),
    ("patch", "/listings/{draft}/", "title", (401, 200, 404, 404, 404, 403)),
    ("delete", "/listings/{draft}/", None, (401, 204, 404, 404, 404, 403)),
    ("post", "/listings/{draft}/publish/", None, (401, 200, 404, 404, 404, 403)),
    ("post", "/listings/{pub}/unpublish/", None, (401, 200, 403, 403, 403, 403)),
    ("post", "/listings/{pub}/take-down/", "reason", (401, 403, 403, 403, 403, 200)),
    ("post", "/listings/{pub}/versions/", "upload", (401, 201, 403, 403, 403, 403)),
    ("post", "/listings/{draft}/versions/", "upload", (401, 201, 404, 404, 404, 403)),
    ("post", "/versions/{pending}/accept/", None, (401, 200, 404, 404, 404, 403)),
    ("post", "/versions/{pending}/discard/", None, (401, 200, 404, 404, 404, 403)),
    ("post", "/target-tasks/", "task", (401, 403, 403, 201, 201, 403)),
    ("patch", "/target-tasks/{task}/", "task", (401, 404, 404, 200, 404, 403)),
    ("delete", "/target-tasks/{task}/", None, (401, 404, 404, 204, 404, 403)),
    ("post", "/target-tasks/{task}/target-set/", "upload", (401, 404, 404, 200, 404, 403)),
]


# (user, method, url template, payload kind, take the published listing down first,
# expected error code, expected message)
CONFLICTS = [
    (
        "provider_a",
        "post",
        "/listings/{pub}/publish/",
        None,
        False,
        "already_published",
        "This listing is already published.",
    ),
    (
        "provider_a",
        "post",
        "/listings/{draft}/unpublish/",
        None,
        False,
        "not_published",
        "Only a published listing can be unpublished (it is draft).",
    ),
    (
        "provider_a",
        "delete",
        "/listings/{pub}/",
        None,
        False,
        "has_been_published",
        "A listing that has been published cannot be deleted; unpublish it instead.",
    ),
    (
        "provider_a",
        "post",
        "/versions/{ready_version}/accept/",
        None,
        False,
        "not_awaiting_choice",
        "Only a version awaiting your choice can be accepted (this one is ready).",
    ),
    (
        "provider_a",
        "post",
        "/versions/{ready_version}/discard/",
        None,
        False,
        "not_discardable",
        "Only a version waiting to be processed, awaiting your choice or failed can be "
        "discarded (this one is ready).",
    ),
    (
        "provider_a",
        "patch",
        "/listings/{pub}/",
        "title",
        True,
        "taken_down",
        "This listing was taken down by staff and cannot be edited.",
    ),
    (
        "provider_a",
        "post",
        "/listings/{pub}/publish/",
        None,
        True,
        "taken_down",
        "This listing was taken down by staff (Complaint) and cannot be published again.",
    ),
    (
        "provider_a",
        "post",
        "/listings/{pub}/versions/",
        "upload",
        True,
        "taken_down",
        "This listing was taken down by staff; uploads are closed.",
    ),
    (
        "staff",
        "post",
        "/listings/{pub}/take-down/",
        "reason",
        True,
        "already_taken_down",
        "This listing is already taken down.",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "method", "template", "kind", "taken_down", "code", "message"),
    CONFLICTS,
    ids=[f"{m} {t}{' (taken down)' if d else ''}" for _r, m, t, _k, d, _c, _m in CONFLICTS],
)
def test_a_refusal_by_state_is_a_409_with_its_code_and_changes_nothing(
    world, role, method, template, kind, taken_down, code, message
):
    if taken_down:
        listing_take_down(listing=world["pub"], actor=world["users"]["staff"], reason="Complaint")
    url = API + template.format(
        pub=world["pub"].slug,
        draft=world["draft"].slug,
        ready_version=world["ready_version"].pk,
    )
    data, fmt = payload(kind)
    before = database_state()

    response = getattr(client_for(world["users"][role]), method)(url, data, format=fmt)

    assert response.status_code == 409, response.content[:300]
    assert response.json() == {"error": {"code": code, "message": message, "details": {}}}
    assert database_state() == before, "a refused request changed the database"


def payload(kind: str | None):
    if kind == "listing":
        return {"title": "New", "licence": "MIT", "floor_price_per_1k_tokens": 1}, "json"
    if kind == "title":
        return {"title": "Renamed"}, "json"
    if kind == "reason":
        return {"reason": "Complaint"}, "json"
    if kind == "task":
        return {"name": "Renamed task"}, "json"
    if kind == "upload":
        return {"file": file("new.jsonl", b'{"text": "brand new row of text"}\n')}, "multipart"
    return None, None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "template", "kind", "expected"), MATRIX, ids=[f"{m} {t}" for m, t, _k, _e in MATRIX]
)
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(world, role, method, template, kind, expected):
    url = API + template.format(
        pub=world["pub"].slug,
        draft=world["draft"].slug,
        pending=world["pending"].pk,
        pub_version=world["pub"].versions.get().pk,
        task=world["task"].pk,
    )
    data, fmt = payload(kind)
    before = database_state()

    response = getattr(client_for(world["users"][role]), method)(url, data, format=fmt)

    want = expected[ROLES.index(role)]
    assert response.status_code == want, (role, method, url, response.content[:300])
    if want >= 400:
        body = response.json()
        assert set(body) == {"error"} and body["error"]["message"], body
        assert database_state() == before, "a denied request changed the database"
