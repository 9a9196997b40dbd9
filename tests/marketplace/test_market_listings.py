"""Listing services and selectors: create, edit, publish, take down, preview, search."""

from __future__ import annotations

import re

import pytest
from django.db.models import F, FloatField, Value
from django.forms.models import model_to_dict
from django.utils import timezone

from core.errors import Conflict, Invalid, NotAllowed
from marketplace.licences import licence_normalise
from marketplace.models import DatasetVersion, Listing
from marketplace.selectors import (
    listing_get_for_viewer,
    listing_preview_samples,
    listing_search,
    listings_visible,
)
from marketplace.services.access import access_grant_many
from marketplace.services.listings import (
    listing_create,
    listing_delete,
    listing_publish,
    listing_take_down,
    listing_unpublish,
    listing_update,
)
from tests.marketplace.conftest import sentence


def snapshot(listing: Listing) -> dict:
    listing = Listing.objects.get(pk=listing.pk)
    data = model_to_dict(listing)
    data["tags"] = sorted(tag.name for tag in listing.tags.all())
    data["updated_at"] = listing.updated_at
    return data


# --- create and edit ------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_listing_normalises_fields(provider_a):
    listing = listing_create(
        provider=provider_a,
        title="  Legal Q&A pairs ",
        licence="cc-by-sa-4.0",
        floor_price_per_1k_tokens=125,
        currency="EUR",
        language="EN",
        tags=["Law", "legal texts", "law"],
        description="Pairs.",
    )
    assert (listing.title, listing.licence) == ("Legal Q&A pairs", "CC-BY-SA-4.0")
    assert re.fullmatch(r"legal-qa-pairs-[0-9a-f]{6}", listing.slug)
    assert (listing.floor_price_per_1k_tokens, listing.currency, listing.language) == (
        125,
        "eur",
        "en",
    )
    assert sorted(listing.tags.values_list("name", flat=True)) == ["law", "legal-texts"]
    assert listing.status == Listing.Status.DRAFT
    again = listing_create(
        provider=provider_a, title="Legal Q&A pairs", licence="MIT", floor_price_per_1k_tokens=0
    )
    assert re.fullmatch(r"legal-qa-pairs-[0-9a-f]{6}", again.slug)
    assert again.slug != listing.slug
    assert again.currency == "usd"


@pytest.mark.django_db
def test_create_listing_rejects_bad_input_with_field_errors(provider_a, buyer_a):
    with pytest.raises(Invalid) as invalid:
        listing_create(
            provider=provider_a,
            title=" ",
            licence="CC-BY-4",
            floor_price_per_1k_tokens=-1,
            currency="xyz",
            language="english",
            preview_size=99,
        )
    assert set(invalid.value.field_messages) == {
        "title",
        "licence",
        "floor_price_per_1k_tokens",
        "currency",
        "language",
        "preview_size",
    }
    assert invalid.value.field_messages["floor_price_per_1k_tokens"] == [
        "Give the price per 1,000 tokens as a whole number of minor units (cents), from 0 "
        "to 100,000,000 (1,000,000.00)."
    ]
    with pytest.raises(Invalid) as floats:
        listing_create(provider=provider_a, title="x", licence="MIT", floor_price_per_1k_tokens=1.5)
    assert "floor_price_per_1k_tokens" in floats.value.field_messages
    with pytest.raises(NotAllowed):
        listing_create(provider=buyer_a, title="x", licence="MIT", floor_price_per_1k_tokens=1)
    assert Listing.objects.count() == 0


def test_licences():
    assert licence_normalise("wordnet and mit") == "WordNet AND MIT"
    assert licence_normalise("LicenseRef-acme-data-1.0") == "LicenseRef-acme-data-1.0"
    assert licence_normalise("(MIT OR apache-2.0)") == "(MIT OR Apache-2.0)"
    for bad in ("", "CC-BY-4", "MIT AND", "MIT WITH Classpath-exception-2.0", "GPL; x"):
        with pytest.raises(Invalid):
            licence_normalise(bad)


@pytest.mark.django_db
def test_update_by_owner_only_and_invalid_update_changes_nothing(
    provider_a, provider_b, make_listing
):
    listing = make_listing(provider_a, title="Before")
    before = snapshot(listing)
    with pytest.raises(NotAllowed):
        listing_update(listing=listing, actor=provider_b, data={"title": "Hijacked"})
    with pytest.raises(Invalid) as invalid:
        listing_update(
            listing=listing,
            actor=provider_a,
            data={"title": "After", "licence": "nope", "slug": "x"},
        )
    assert set(invalid.value.field_messages) == {"licence", "slug"}
    assert snapshot(listing) == before

    updated = listing_update(
        listing=listing, actor=provider_a, data={"title": "After", "tags": ["a", "b"]}
    )
    assert (updated.title, updated.slug) == ("After", before["slug"])
    assert sorted(updated.tags.values_list("name", flat=True)) == ["a", "b"]


@pytest.mark.django_db
def test_picked_preview_ids_must_exist_in_the_current_version(provider_a, ready_listing):
    listing = ready_listing(provider_a, [{"id": f"s{i}", "text": sentence(i)} for i in range(5)])
    with pytest.raises(Invalid) as unknown:
        listing_update(
            listing=listing,
            actor=provider_a,
            data={"preview_mode": "picked", "preview_sample_ids": ["s1", "nope"]},
        )
    assert unknown.value.field_messages == {
        "preview_sample_ids": ["Not in the current version: nope."]
    }
    listing_update(
        listing=listing,
        actor=provider_a,
        data={"preview_mode": "picked", "preview_sample_ids": ["s3", "s1"]},
    )
    listing.refresh_from_db()
    assert [s.external_id for s in listing_preview_samples(listing=listing)] == ["s3", "s1"]


@pytest.mark.django_db
def test_random_preview_is_deterministic_and_skips_duplicates(provider_a, ready_listing):
    rows = [{"id": f"s{i}", "text": sentence(i)} for i in range(30)]
    rows.append({"id": "dup", "text": rows[0]["text"]})
    listing = ready_listing(provider_a, rows, preview_size=6)
    first = [s.external_id for s in listing_preview_samples(listing=listing)]
    second = [s.external_id for s in listing_preview_samples(listing=listing)]
    assert first == second
    assert len(first) == 6 and len(set(first)) == 6
    assert "dup" not in first
    assert len(listing_preview_samples(listing=listing, size=31)) == 30


# --- publish, unpublish, take down, delete --------------------------------------------------


@pytest.mark.django_db
def test_publish_needs_a_ready_version(provider_a, make_listing):
    listing = make_listing(provider_a)
    before = snapshot(listing)
    with pytest.raises(Conflict) as refused:
        listing_publish(listing=listing, actor=provider_a)
    assert (refused.value.status, refused.value.code) == (409, "no_ready_version")
    assert refused.value.messages == [
        "Upload a dataset version and wait until it is ready to publish."
    ]
    assert snapshot(listing) == before


@pytest.mark.django_db
def test_publish_unpublish_cycle(provider_a, provider_b, ready_listing):
    listing = ready_listing(provider_a, [{"text": "hello there world"}], publish=False)
    with pytest.raises(NotAllowed):
        listing_publish(listing=listing, actor=provider_b)
    published = listing_publish(listing=listing, actor=provider_a)
    assert published.status == Listing.Status.PUBLISHED
    first_listed = published.listed_at
    assert first_listed is not None
    before = snapshot(published)
    with pytest.raises(Conflict) as again_published:
        listing_publish(listing=published, actor=provider_a)
    assert (again_published.value.code, again_published.value.message) == (
        "already_published",
        "This listing is already published.",
    )
    assert snapshot(published) == before

    unpublished = listing_unpublish(listing=published, actor=provider_a)
    assert unpublished.status == Listing.Status.UNPUBLISHED
    before = snapshot(unpublished)
    with pytest.raises(Conflict) as not_published:
        listing_unpublish(listing=unpublished, actor=provider_a)
    assert (not_published.value.code, not_published.value.message) == (
        "not_published",
        "Only a published listing can be unpublished (it is unpublished).",
    )
    assert snapshot(unpublished) == before
    assert listing_search().count() == 0
    again = listing_publish(listing=unpublished, actor=provider_a)
    assert again.listed_at == first_listed
    assert again.published_at > first_listed


@pytest.mark.django_db
def test_take_down_is_staff_only_and_final(provider_a, buyer_a, staff, ready_listing):
    listing = ready_listing(provider_a, [{"text": "hello there world"}])
    before = snapshot(listing)
    with pytest.raises(NotAllowed):
        listing_take_down(listing=listing, actor=provider_a, reason="x")
    with pytest.raises(Invalid):
        listing_take_down(listing=listing, actor=staff, reason="  ")
    assert snapshot(listing) == before

    taken = listing_take_down(listing=listing, actor=staff, reason="Copyright complaint")
    assert (taken.status, taken.takedown_reason, taken.taken_down_by) == (
        Listing.Status.TAKEN_DOWN,
        "Copyright complaint",
        staff,
    )
    assert taken.taken_down_at is not None
    assert listing_search().count() == 0
    assert listing_get_for_viewer(slug=listing.slug, user=buyer_a) is None
    assert listing_get_for_viewer(slug=listing.slug, user=provider_a) == listing
    assert listing_get_for_viewer(slug=listing.slug, user=staff) == listing
    before = snapshot(taken)
    with pytest.raises(Conflict) as republish:
        listing_publish(listing=taken, actor=provider_a)
    assert republish.value.code == "taken_down"
    assert republish.value.message == (
        "This listing was taken down by staff (Copyright complaint) and cannot be published again."
    )
    with pytest.raises(Conflict) as edit:
        listing_update(listing=taken, actor=provider_a, data={"title": "Sneaky"})
    assert (edit.value.code, edit.value.message) == (
        "taken_down",
        "This listing was taken down by staff and cannot be edited.",
    )
    with pytest.raises(Conflict) as twice:
        listing_take_down(listing=taken, actor=staff, reason="Again")
    assert (twice.value.code, twice.value.message) == (
        "already_taken_down",
        "This listing is already taken down.",
    )
    assert snapshot(taken) == before


@pytest.mark.django_db
def test_past_buyers_keep_access_through_their_access_grants(
    provider_a, buyer_a, buyer_b, staff, ready_listing
):
    listing = ready_listing(provider_a, [{"text": "hello there world"}])
    sample = listing.current_version.samples.get()
    access_grant_many(
        user_id=buyer_a.pk,
        sample_listing_ids=[(sample.pk, listing.pk)],
        source="order:1",
        granted_at=timezone.now(),
    )
    listing_take_down(listing=listing, actor=staff, reason="Complaint")
    assert listing_get_for_viewer(slug=listing.slug, user=buyer_a) == listing
    assert listing_get_for_viewer(slug=listing.slug, user=buyer_b) is None


@pytest.mark.django_db
def test_delete_only_never_published_drafts(provider_a, provider_b, ready_listing, make_listing):
    draft = ready_listing(provider_a, [{"text": "hello there world"}], publish=False)
    with pytest.raises(NotAllowed):
        listing_delete(listing=draft, actor=provider_b)
    listing_delete(listing=draft, actor=provider_a)
    assert not Listing.objects.filter(pk=draft.pk).exists()

    published = ready_listing(provider_a, [{"text": "another text here"}], title="P")
    listing_unpublish(listing=published, actor=provider_a)
    before = snapshot(published)
    with pytest.raises(Conflict) as refused:
        listing_delete(listing=published, actor=provider_a)
    assert (refused.value.code, refused.value.message) == (
        "has_been_published",
        "A listing that has been published cannot be deleted; unpublish it instead.",
    )
    assert snapshot(published) == before
    assert published.versions.count() == 1


@pytest.mark.django_db
def test_a_draft_with_a_version_in_progress_cannot_be_deleted(provider_a, ready_listing):
    draft = ready_listing(provider_a, [{"text": "hello there world"}], publish=False)
    version = draft.current_version
    DatasetVersion.objects.filter(pk=version.pk).update(status=DatasetVersion.Status.INGESTING)
    before = snapshot(draft)
    with pytest.raises(Conflict) as refused:
        listing_delete(listing=draft, actor=provider_a)
    assert (refused.value.code, refused.value.message) == (
        "version_in_progress",
        "A version is still being processed; wait for it to finish.",
    )
    assert snapshot(draft) == before
    assert DatasetVersion.objects.filter(pk=version.pk, status="ingesting").exists()


@pytest.mark.django_db
def test_visibility_of_listings(provider_a, provider_b, buyer_a, staff, ready_listing):
    from django.contrib.auth.models import AnonymousUser

    public = ready_listing(provider_a, [{"text": "hello there world"}], title="Public")
    draft = ready_listing(provider_a, [{"text": "second text here"}], title="Draft", publish=False)
    assert set(listings_visible(user=AnonymousUser())) == {public}
    assert set(listings_visible(user=buyer_a)) == {public}
    assert set(listings_visible(user=provider_b)) == {public}
    assert set(listings_visible(user=provider_a)) == {public, draft}
    assert set(listings_visible(user=staff)) == {public, draft}
    assert listing_get_for_viewer(slug=draft.slug, user=provider_b) is None
    assert listing_get_for_viewer(slug=draft.slug, user=AnonymousUser()) is None


# --- search ---------------------------------------------------------------------------------


@pytest.fixture
def catalogue(provider_a, provider_b, ready_listing):
    legal = ready_listing(
        provider_a,
        [{"text": sentence(i, words=80)} for i in range(8)],
        title="Legal contracts",
        description="Commercial contracts in plain English.",
        tags=["law", "contracts"],
        licence="CC-BY-4.0",
        floor_price_per_1k_tokens=300,
        language="en",
    )
    medical = ready_listing(
        provider_b,
        [{"text": sentence(100 + i, words=20)} for i in range(2)],
        title="Medical notes",
        description="De-identified clinical notes.",
        tags=["medicine"],
        licence="CC0-1.0",
        floor_price_per_1k_tokens=100,
        language="de",
    )
    code = ready_listing(
        provider_b,
        [{"text": sentence(200 + i, words=40)} for i in range(10)],
        title="Python snippets",
        description="Small functions with docstrings, some about contracts.",
        tags=["code"],
        licence="MIT",
        floor_price_per_1k_tokens=200,
        currency="eur",
    )
    ready_listing(
        provider_a,
        [{"text": "draft text here"}],
        title="Hidden law draft",
        tags=["law"],
        publish=False,
    )
    return {"legal": legal, "medical": medical, "code": code}


def titles(queryset) -> list[str]:
    return [listing.title for listing in queryset]


@pytest.mark.django_db
def test_search_text_tags_and_filters(catalogue):
    assert titles(listing_search(query="contracts")) == ["Python snippets", "Legal contracts"]
    assert titles(listing_search(query="clinical")) == ["Medical notes"]
    assert titles(listing_search(query="law")) == ["Legal contracts"]
    assert titles(listing_search(query="legal plain")) == ["Legal contracts"]
    assert titles(listing_search(tags=["law"])) == ["Legal contracts"]
    assert titles(listing_search(tags=["law", "medicine"])) == []
    assert titles(listing_search(licence="mit")) == ["Python snippets"]
    assert titles(listing_search(language="de")) == ["Medical notes"]
    assert titles(listing_search(currency="usd", price_min=150)) == ["Legal contracts"]
    assert titles(listing_search(price_max=200, sort="price_asc")) == [
        "Medical notes",
        "Python snippets",
    ]
    legal_tokens = catalogue["legal"].current_version.token_count
    assert titles(listing_search(size_min=legal_tokens)) == ["Legal contracts"]
    assert titles(listing_search(size_max=legal_tokens - 1, sort="size_asc")) == [
        "Medical notes",
        "Python snippets",
    ]


@pytest.mark.django_db
def test_search_sorts(catalogue):
    assert titles(listing_search()) == ["Python snippets", "Medical notes", "Legal contracts"]
    assert titles(listing_search(sort="oldest")) == [
        "Legal contracts",
        "Medical notes",
        "Python snippets",
    ]
    assert titles(listing_search(sort="price_desc")) == [
        "Legal contracts",
        "Python snippets",
        "Medical notes",
    ]
    assert titles(listing_search(sort="size_desc")) == [
        "Legal contracts",
        "Python snippets",
        "Medical notes",
    ]
    with pytest.raises(ValueError, match="there are none yet"):
        listing_search(sort="value")
    with pytest.raises(ValueError, match="unknown sort 'cheapest'"):
        listing_search(sort="cheapest")
    by_value = listing_search(sort="value", value_expression=F("floor_price_per_1k_tokens") * -1)
    assert titles(by_value) == ["Medical notes", "Python snippets", "Legal contracts"]
    unvalued = listing_search(sort="value", value_expression=Value(None, output_field=FloatField()))
    assert titles(unvalued) == ["Python snippets", "Medical notes", "Legal contracts"]


@pytest.mark.django_db
def test_provider_dashboard_numbers(provider_a, provider_b, ready_listing):
    import io

    from marketplace.selectors import listings_of_provider
    from marketplace.services.versions import version_upload
    from tests.marketplace.conftest import jsonl

    rows = [{"text": sentence(i)} for i in range(3)]
    listing = ready_listing(provider_a, rows + [{"text": rows[0]["text"]}], title="Mine")
    version_upload(
        listing=listing,
        actor=provider_a,
        file=io.BytesIO(jsonl(rows + [{"text": rows[1]["text"]}, {"text": rows[2]["text"]}])),
        filename="v2.jsonl",
    )
    version_upload(
        listing=listing,
        actor=provider_a,
        file=io.BytesIO(b'{bad\n{"text": "x"}'),
        filename="v3.jsonl",
    )
    ready_listing(provider_b, rows, title="Theirs")
    (mine,) = listings_of_provider(provider=provider_a)
    assert (mine.title, mine.current_version.number, mine.duplicate_count) == ("Mine", 2, 2)
    assert mine.upload_in_progress is True
