"""Marketplace pages: provider and buyer flows, role checks, staff take-down in the admin."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from marketplace.models import DatasetVersion, Listing, TargetTask
from tests.marketplace.conftest import jsonl, make_user, sentence


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def listing_form(**overrides) -> dict:
    data = {
        "title": "Support chats",
        "description": "Anonymised tickets.",
        "licence": "cc-by-4.0",
        "tags": "support, english",
        "floor_price": "0.05",
        "currency": "usd",
        "source": "Our helpdesk",
        "collection_method": "Exported and scrubbed",
        "language": "en",
        "intended_use": "Fine-tuning",
        "known_limitations": "2019-2024 only",
        "preview_mode": "random",
        "preview_sample_ids": "",
        "preview_size": "3",
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_provider_flow_in_the_browser(provider_a):
    browser = client_for(provider_a)
    dashboard = browser.get(reverse("marketplace:provider_datasets"))
    assert dashboard.status_code == 200
    assert "No valuations yet" in dashboard.content.decode()

    bad = browser.post(reverse("marketplace:listing_create"), listing_form(licence="CC-BY-4"))
    assert bad.status_code == 200
    assert "is not a known SPDX licence id" in bad.content.decode()
    assert Listing.objects.count() == 0

    created = browser.post(reverse("marketplace:listing_create"), listing_form())
    listing = Listing.objects.get()
    assert created.url == reverse("marketplace:version_upload", args=[listing.slug])
    assert (listing.floor_price_per_1k_tokens, listing.licence) == (5, "CC-BY-4.0")

    upload = SimpleUploadedFile("v1.jsonl", b'{"text": "good row one"}\n{broken\n')
    posted = browser.post(
        reverse("marketplace:version_upload", args=[listing.slug]), {"file": upload}
    )
    version = DatasetVersion.objects.get()
    assert posted.url == reverse("marketplace:version_status", args=[version.pk])
    status_page = browser.get(posted.url).content.decode()
    assert "Ingest the 1 valid row" in status_page
    assert "Upload a fixed file" in status_page
    assert "line 2: bad JSON" in status_page
    assert 'http-equiv="refresh"' not in status_page

    browser.post(reverse("marketplace:version_accept", args=[version.pk]))
    version.refresh_from_db()
    assert version.status == DatasetVersion.Status.READY
    ready_page = browser.get(reverse("marketplace:version_status", args=[version.pk])).content
    assert b"Ready: 1 samples" in ready_page

    browser.post(reverse("marketplace:listing_publish", args=[listing.slug]))
    listing.refresh_from_db()
    assert listing.status == Listing.Status.PUBLISHED

    edit = browser.post(
        reverse("marketplace:listing_edit", args=[listing.slug]), listing_form(floor_price="1.25")
    )
    assert edit.status_code == 302
    listing.refresh_from_db()
    assert listing.floor_price_per_1k_tokens == 125


@pytest.mark.django_db
def test_status_page_refreshes_itself_while_processing(provider_a, ready_listing):
    listing = ready_listing(provider_a, [{"text": "hello there"}], publish=False)
    version = listing.current_version
    DatasetVersion.objects.filter(pk=version.pk).update(
        status=DatasetVersion.Status.INGESTING,
        progress_phase="ingest",
        progress_done=40,
        progress_total=100,
        progress_unit="bytes",
    )
    page = client_for(provider_a).get(reverse("marketplace:version_status", args=[version.pk]))
    html = page.content.decode()
    assert '<meta http-equiv="refresh" content="2">' in html
    assert 'aria-valuenow="40"' in html
    assert "marketplace/version_status.js" in html
    assert f'data-version-status="/api/marketplace/versions/{version.pk}/"' in html


@pytest.mark.django_db
def test_duplicates_page_names_the_original_listing(provider_a, provider_b, ready_listing):
    rows = [{"id": f"o{i}", "text": sentence(i)} for i in range(2)]
    ready_listing(provider_a, rows, title="The Original")
    copier = ready_listing(provider_b, rows, title="Copy")
    page = client_for(provider_b).get(
        reverse("marketplace:version_duplicates", args=[copier.current_version_id])
    )
    html = page.content.decode()
    assert "The Original" in html
    assert "2 exact and 0 near duplicates" in html


@pytest.mark.django_db
def test_browse_search_and_listing_page(provider_a, buyer_a, ready_listing):
    for i in range(14):
        ready_listing(
            provider_a,
            [{"text": sentence(i)}],
            title=f"Set {i:02d}",
            tags=["even" if i % 2 == 0 else "odd"],
            floor_price_per_1k_tokens=i,
        )
    browser = client_for(buyer_a)
    first = browser.get(reverse("marketplace:listing_list"))
    assert first.status_code == 200
    assert first.context["page"].paginator.count == 14
    assert len(first.context["page"].object_list) == 12
    filtered = browser.get(
        reverse("marketplace:listing_list"),
        {"tag": "odd", "sort": "price_desc", "price_max": "0.09"},
    )
    assert [item.title for item in filtered.context["page"].object_list] == [
        "Set 09",
        "Set 07",
        "Set 05",
        "Set 03",
        "Set 01",
    ]
    second = browser.get(reverse("marketplace:listing_list"), {"tag": "even", "page": 2})
    assert second.context["page"].number == 1  # 7 results fit one page
    invalid = browser.get(reverse("marketplace:listing_list"), {"price_min": "abc"})
    assert invalid.context["page"].paginator.count == 0
    assert "Enter a number." in invalid.content.decode()

    listing = Listing.objects.get(title="Set 03")
    detail = client_for().get(reverse("marketplace:listing_detail", args=[listing.slug]))
    html = detail.content.decode()
    assert detail.status_code == 200
    assert "Datasheet" in html and "CC-BY-4.0" in html
    assert sentence(3)[:30] in html


@pytest.mark.django_db
def test_pages_hide_and_deny(provider_a, provider_b, buyer_a, ready_listing):
    draft = ready_listing(provider_a, [{"text": "secret draft"}], title="Draft", publish=False)
    login = client_for().get(reverse("marketplace:provider_datasets"))
    assert login.status_code == 302 and "/accounts/login/" in login.url
    assert client_for(buyer_a).get(reverse("marketplace:provider_datasets")).status_code == 403
    assert client_for(provider_a).get(reverse("marketplace:task_list")).status_code == 403
    for user in (None, buyer_a, provider_b):
        response = client_for(user).get(reverse("marketplace:listing_detail", args=[draft.slug]))
        assert response.status_code == 404
    other = client_for(provider_b)
    assert other.get(reverse("marketplace:provider_listing", args=[draft.slug])).status_code == 404
    version_url = reverse("marketplace:version_status", args=[draft.current_version_id])
    assert other.get(version_url).status_code == 404
    before = Listing.objects.values_list("status", "updated_at").get(pk=draft.pk)
    assert other.post(reverse("marketplace:listing_publish", args=[draft.slug])).status_code == 404
    assert other.post(reverse("marketplace:listing_delete", args=[draft.slug])).status_code == 404
    assert Listing.objects.values_list("status", "updated_at").get(pk=draft.pk) == before


def post_action(user, action: str, listing: Listing) -> tuple[int, str, list[str]]:
    """POST a listing action from a fresh client: status, redirect and the messages added."""
    response = client_for(user).post(reverse(f"marketplace:{action}", args=[listing.slug]))
    said = [str(message) for message in get_messages(response.wsgi_request)]
    return response.status_code, response.url, said


@pytest.mark.django_db
def test_listing_actions_say_what_happened_and_where_to_go(provider_a, ready_listing, make_listing):
    listing = ready_listing(provider_a, [{"text": "hello there"}], title="Chats", publish=False)
    empty = make_listing(provider_a, title="Empty")
    page = {
        item: reverse("marketplace:provider_listing", args=[item.slug]) for item in (listing, empty)
    }
    steps = [
        (
            "listing_publish",
            empty,
            page[empty],
            "Upload a dataset version and wait until it is ready to publish.",
            Listing.Status.DRAFT,
        ),
        (
            "listing_publish",
            listing,
            page[listing],
            "“Chats” is on the market.",
            Listing.Status.PUBLISHED,
        ),
        (
            "listing_publish",
            listing,
            page[listing],
            "This listing is already published.",
            Listing.Status.PUBLISHED,
        ),
        (
            "listing_delete",
            listing,
            page[listing],
            "A listing that has been published cannot be deleted; unpublish it instead.",
            Listing.Status.PUBLISHED,
        ),
        (
            "listing_unpublish",
            listing,
            page[listing],
            "“Chats” is no longer listed.",
            Listing.Status.UNPUBLISHED,
        ),
        (
            "listing_unpublish",
            listing,
            page[listing],
            "Only a published listing can be unpublished (it is unpublished).",
            Listing.Status.UNPUBLISHED,
        ),
        ("listing_delete", empty, reverse("marketplace:provider_datasets"), "Draft deleted.", None),
    ]
    for action, target, goes_to, message, status_after in steps:
        assert post_action(provider_a, action, target) == (302, goes_to, [message]), action
        after = Listing.objects.filter(pk=target.pk).values_list("status", flat=True).first()
        assert after == status_after, (action, target.title)


@pytest.mark.django_db
def test_publishing_a_published_listing_on_its_page_says_so_and_changes_nothing(
    provider_a, ready_listing
):
    listing = ready_listing(provider_a, [{"text": "hello there"}], title="Chats")
    fields = ("status", "published_at", "listed_at", "updated_at")
    before = Listing.objects.values_list(*fields).get(pk=listing.pk)
    browser = client_for(provider_a)

    response = browser.post(
        reverse("marketplace:listing_publish", args=[listing.slug]), follow=True
    )

    assert response.status_code == 200
    assert response.redirect_chain == [
        (reverse("marketplace:provider_listing", args=[listing.slug]), 302)
    ]
    assert "This listing is already published." in response.content.decode()
    assert Listing.objects.values_list(*fields).get(pk=listing.pk) == before


@pytest.mark.django_db
def test_a_taken_down_listing_refuses_edits_and_uploads_on_its_pages(
    provider_a, staff, ready_listing
):
    """A refusal by the listing's state is shown on the form the provider sent, with the
    service's message, and nothing changes."""
    from marketplace.services.listings import listing_take_down

    listing = ready_listing(provider_a, [{"text": "hello there"}], title="Chats")
    listing_take_down(listing=listing, actor=staff, reason="Complaint")
    before = list(Listing.objects.filter(pk=listing.pk).values())
    versions = DatasetVersion.objects.count()
    browser = client_for(provider_a)

    edit = browser.post(
        reverse("marketplace:listing_edit", args=[listing.slug]), listing_form(title="Sneaky")
    )
    upload = browser.post(
        reverse("marketplace:version_upload", args=[listing.slug]),
        {"file": SimpleUploadedFile("v2.jsonl", jsonl([{"text": "after take-down"}]))},
    )

    for response, message in (
        (edit, "This listing was taken down by staff and cannot be edited."),
        (upload, "This listing was taken down by staff; uploads are closed."),
    ):
        html = response.content.decode()
        assert response.status_code == 200, html[:300]
        assert message in html and "<form" in html
    assert list(Listing.objects.filter(pk=listing.pk).values()) == before
    assert DatasetVersion.objects.count() == versions


@pytest.mark.django_db
def test_a_denied_listing_action_changes_nothing(provider_a, ready_listing):
    """Staff who also provide data see others' listings but may not change them."""
    staff_provider = make_user("staff_provider", is_provider=True, is_staff=True)
    draft = ready_listing(provider_a, [{"text": "not yours"}], title="Draft", publish=False)
    published = ready_listing(provider_a, [{"text": "not yours either"}], title="Published")
    before = list(Listing.objects.order_by("pk").values_list("pk", "status", "updated_at"))

    for action, listing in (
        ("listing_publish", draft),
        ("listing_delete", draft),
        ("listing_unpublish", published),
    ):
        page = reverse("marketplace:provider_listing", args=[listing.slug])
        refused = (302, page, ["Only the listing's provider may change it."])
        assert post_action(staff_provider, action, listing) == refused, action
    assert list(Listing.objects.order_by("pk").values_list("pk", "status", "updated_at")) == before


@pytest.mark.django_db
def test_target_task_pages(buyer_a, buyer_b):
    browser = client_for(buyer_a)
    created = browser.post(reverse("marketplace:task_create"), {"name": "Legal QA"})
    task = TargetTask.objects.get()
    assert created.url == reverse("marketplace:task_detail", args=[task.pk])

    invalid = browser.post(
        created.url, {"file": SimpleUploadedFile("t.jsonl", b'{"text": "ok"}\n{"text": ""}\n')}
    )
    html = invalid.content.decode()
    assert "line 2: &#x27;text&#x27; is empty" in html
    task.refresh_from_db()
    assert task.sample_count == 0

    browser.post(
        created.url,
        {"file": SimpleUploadedFile("t.jsonl", jsonl([{"text": "a target example"}]))},
    )
    task.refresh_from_db()
    assert (task.status, task.sample_count) == ("ready", 1)
    listing = browser.get(reverse("marketplace:task_list")).content.decode()
    assert "Legal QA" in listing
    assert client_for(buyer_b).get(created.url).status_code == 404


@pytest.mark.django_db
def test_admin_take_down_action(provider_a, staff, ready_listing):
    listing = ready_listing(provider_a, [{"text": "to be removed"}])
    admin = client_for(staff)
    url = reverse("admin:marketplace_listing_changelist")
    confirm = admin.post(url, {"action": "take_down", "_selected_action": [listing.pk]})
    assert confirm.status_code == 200
    assert b"Take down" in confirm.content
    listing.refresh_from_db()
    assert listing.status == Listing.Status.PUBLISHED

    done = admin.post(
        url,
        {
            "action": "take_down",
            "_selected_action": [listing.pk],
            "apply": "1",
            "reason": "DMCA notice",
        },
    )
    assert done.status_code == 302
    listing.refresh_from_db()
    assert (listing.status, listing.takedown_reason, listing.taken_down_by) == (
        Listing.Status.TAKEN_DOWN,
        "DMCA notice",
        staff,
    )


@pytest.mark.django_db
def test_a_floor_price_in_a_zero_decimal_currency_is_whole_yen(provider_a, settings):
    """JPY has no minor unit: 12 yen is stored as 12, not 1,200; 12.5 yen is refused."""
    settings.PLATFORM_CURRENCY = "jpy"
    browser = client_for(provider_a)

    half = browser.post(
        reverse("marketplace:listing_create"), listing_form(floor_price="12.5", currency="jpy")
    )
    assert half.status_code == 200
    assert "whole numbers only" in half.content.decode()
    assert Listing.objects.count() == 0

    browser.post(
        reverse("marketplace:listing_create"), listing_form(floor_price="12", currency="jpy")
    )
    listing = Listing.objects.get()
    assert (listing.floor_price_per_1k_tokens, listing.currency) == (12, "jpy")

    edit = browser.get(reverse("marketplace:listing_edit", args=[listing.slug])).content.decode()
    assert 'name="floor_price" value="12"' in edit
    assert "12 JPY" in browser.get(reverse("marketplace:provider_datasets")).content.decode()


@pytest.mark.django_db
def test_a_dollar_floor_price_is_still_stored_in_cents(provider_a):
    browser = client_for(provider_a)
    browser.post(reverse("marketplace:listing_create"), listing_form(floor_price="12.5"))
    listing = Listing.objects.get()
    assert listing.floor_price_per_1k_tokens == 1250
    edit = browser.get(reverse("marketplace:listing_edit", args=[listing.slug])).content.decode()
    assert 'name="floor_price" value="12.50"' in edit
