"""Duplicate rules: exact and near, within a version and across listings, earlier-listed wins,
and a copier earns nothing."""

from __future__ import annotations

import io

import pytest

from marketplace import fingerprints
from marketplace.models import DatasetVersion, Sample
from marketplace.selectors import (
    sellable_samples,
    version_duplicate_summary,
    version_duplicates,
)
from marketplace.services.listings import listing_publish, listing_take_down, listing_unpublish
from marketplace.services.versions import version_upload
from tests.marketplace.conftest import jsonl, sentence


def flags(listing) -> dict[str, tuple[str, str, str]]:
    """external id -> (original's external id, original's listing slug, kind)."""
    samples = Sample.objects.filter(
        version=listing.current_version, duplicate_of__isnull=False
    ).select_related("duplicate_of__version__listing")
    return {
        s.external_id: (
            s.duplicate_of.external_id,
            s.duplicate_of.version.listing.slug,
            s.duplicate_kind,
        )
        for s in samples
    }


def change_one_word(text: str) -> str:
    words = text.split()
    words[len(words) // 2] = "CHANGED"
    return " ".join(words)


ORIGINAL_ROWS = [{"id": f"orig-{i}", "text": sentence(i)} for i in range(6)] + [
    {
        "id": "pair-1",
        "prompt": 'Define the word "argue".',
        "response": "Present reasons or arguments.",
    },
    {
        "id": "pair-2",
        "prompt": 'Define the word "glad".',
        "response": "Showing cheerful willingness.",
    },
]


@pytest.mark.django_db
def test_exact_and_near_duplicates_within_a_version(provider_a, ready_listing):
    base = sentence(1)
    rows = [
        {"id": "a", "text": base},
        {"id": "b", "text": "  " + base.upper().replace(" ", "\n  ") + " "},  # normalises equal
        {"id": "c", "text": change_one_word(base)},
        {"id": "d", "text": sentence(2)},
        {"id": "e", "prompt": "Say hi to me please now", "response": "Hi there!"},
        {"id": "f", "text": "Say hi to me please now\nHi there!"},  # the pair as text
    ]
    listing = ready_listing(provider_a, rows)

    assert flags(listing) == {
        "b": ("a", listing.slug, "exact"),
        "c": ("a", listing.slug, "near"),
        "f": ("e", listing.slug, "exact"),
    }
    assert version_duplicate_summary(version=listing.current_version) == {
        "samples": 6,
        "exact": 2,
        "near": 1,
        "sellable": 3,
        "sellable_tokens": sum(
            s.token_count
            for s in Sample.objects.filter(version=listing.current_version, external_id__in="ade")
        ),
    }
    assert sorted(s.external_id for s in sellable_samples(listing=listing)) == ["a", "d", "e"]


@pytest.mark.django_db
def test_a_copier_earns_nothing(provider_a, provider_b, ready_listing):
    """Provider B re-uploads A's samples, exactly and with a word changed: all are flagged."""
    original = ready_listing(provider_a, ORIGINAL_ROWS, title="Original")
    copied = (
        [{"id": f"copy-{i}", "text": row["text"]} for i, row in enumerate(ORIGINAL_ROWS[:3])]
        + [
            {"id": f"edit-{i}", "text": change_one_word(row["text"])}
            for i, row in enumerate(ORIGINAL_ROWS[3:6])
        ]
        + [
            {
                "id": "pair-copy",
                "prompt": ORIGINAL_ROWS[6]["prompt"],
                "response": ORIGINAL_ROWS[6]["response"].upper(),
            },
            {
                "id": "pair-edit",
                "prompt": ORIGINAL_ROWS[7]["prompt"],
                "response": "Showing cheerful readiness.",
            },
            {"id": "own", "text": sentence(99)},
        ]
    )
    copier = ready_listing(provider_b, copied, title="Copier")

    assert flags(copier) == {
        "copy-0": ("orig-0", original.slug, "exact"),
        "copy-1": ("orig-1", original.slug, "exact"),
        "copy-2": ("orig-2", original.slug, "exact"),
        "edit-0": ("orig-3", original.slug, "near"),
        "edit-1": ("orig-4", original.slug, "near"),
        "edit-2": ("orig-5", original.slug, "near"),
        "pair-copy": ("pair-1", original.slug, "exact"),
        "pair-edit": ("pair-2", original.slug, "near"),
    }
    assert [s.external_id for s in sellable_samples(listing=copier)] == ["own"]
    assert sellable_samples(listing=original).count() == len(ORIGINAL_ROWS)
    assert flags(original) == {}
    # The copier sees each flagged sample with the original's listing.
    shown = [
        (s.external_id, s.duplicate_of.version.listing.title)
        for s in version_duplicates(version=copier.current_version)
    ]
    assert shown[0] == ("copy-0", "Original")
    assert len(shown) == 8


@pytest.mark.django_db
def test_copy_ingested_as_a_draft_is_flagged_and_stays_flagged_on_publish(
    provider_a, provider_b, ready_listing
):
    original = ready_listing(provider_a, ORIGINAL_ROWS, title="Original")
    draft = ready_listing(provider_b, ORIGINAL_ROWS[:2], title="Draft copy", publish=False)
    assert set(flags(draft)) == {"orig-0", "orig-1"}
    listing_publish(listing=draft, actor=provider_b)
    draft.refresh_from_db()
    assert flags(draft) == {
        "orig-0": ("orig-0", original.slug, "exact"),
        "orig-1": ("orig-1", original.slug, "exact"),
    }
    assert sellable_samples(listing=draft).count() == 0


@pytest.mark.django_db
def test_drafts_are_not_originals_the_first_to_publish_wins(provider_a, provider_b, ready_listing):
    """Two drafts share data; whoever lists first is the original."""
    rows = ORIGINAL_ROWS[:3]
    first_draft = ready_listing(provider_a, rows, title="A", publish=False)
    second_draft = ready_listing(provider_b, rows, title="B", publish=False)
    assert flags(first_draft) == {} and flags(second_draft) == {}

    listing_publish(listing=second_draft, actor=provider_b)
    listing_publish(listing=first_draft, actor=provider_a)
    first_draft.refresh_from_db()
    second_draft.refresh_from_db()

    assert flags(second_draft) == {}
    assert set(flags(first_draft)) == {"orig-0", "orig-1", "orig-2"}


@pytest.mark.django_db
def test_republished_listing_keeps_its_precedence(provider_a, provider_b, ready_listing):
    original = ready_listing(provider_a, ORIGINAL_ROWS[:3], title="Original")
    listing_unpublish(listing=original, actor=provider_a)
    # While the original is off the market, B lists the same data: nothing to compare with.
    copier = ready_listing(provider_b, ORIGINAL_ROWS[:3], title="Copier")
    assert flags(copier) == {}

    listing_publish(listing=original, actor=provider_a)
    original.refresh_from_db()
    copier.refresh_from_db()

    assert flags(original) == {}
    assert flags(copier) == {f"orig-{i}": (f"orig-{i}", original.slug, "exact") for i in range(3)}
    assert sellable_samples(listing=copier).count() == 0


@pytest.mark.django_db
def test_copies_of_a_copy_point_to_the_root(provider_a, provider_b, buyer_a, ready_listing):
    from accounts.services import profile_set_roles

    profile_set_roles(profile=buyer_a.profile, is_provider=True, is_buyer=True)
    original = ready_listing(provider_a, ORIGINAL_ROWS[:2], title="Original")
    ready_listing(provider_b, ORIGINAL_ROWS[:2], title="First copier")
    second = ready_listing(buyer_a, ORIGINAL_ROWS[:2], title="Second copier")
    assert {value[1] for value in flags(second).values()} == {original.slug}


@pytest.mark.django_db
def test_a_providers_new_version_is_not_a_copy_of_itself(provider_a, provider_b, ready_listing):
    original = ready_listing(provider_a, ORIGINAL_ROWS[:3], title="Original")
    copier = ready_listing(provider_b, ORIGINAL_ROWS[:1], title="Copier")
    assert set(flags(copier)) == {"orig-0"}
    version = version_upload(
        listing=original,
        actor=provider_a,
        file=io.BytesIO(jsonl(ORIGINAL_ROWS[:3] + [{"id": "new", "text": sentence(50)}])),
        filename="v2.jsonl",
    )
    assert version.status == DatasetVersion.Status.READY
    original.refresh_from_db()
    assert original.current_version_id == version.pk
    assert flags(original) == {}
    assert sellable_samples(listing=original).count() == 4


@pytest.mark.django_db
def test_taken_down_listings_are_not_compared_with_later_uploads(
    provider_a, provider_b, staff, ready_listing
):
    original = ready_listing(provider_a, ORIGINAL_ROWS[:2], title="Original")
    listing_take_down(listing=original, actor=staff, reason="licence dispute")
    copier = ready_listing(provider_b, ORIGINAL_ROWS[:2] + [{"text": sentence(7)}], title="Copier")
    # Taken-down data is off the market, so a later upload is not compared with it.
    assert flags(copier) == {}
    assert sellable_samples(listing=original).count() == 0


@pytest.mark.django_db
def test_unrelated_texts_are_not_flagged(provider_a, provider_b, ready_listing):
    ready_listing(provider_a, [{"text": sentence(i)} for i in range(20)], title="A")
    other = ready_listing(provider_b, [{"text": sentence(i)} for i in range(100, 120)], title="B")
    assert flags(other) == {}


def test_near_duplicate_test_on_texts():
    long_text = fingerprints.normalise(sentence(3, words=60))
    assert fingerprints.is_near_duplicate(
        long_text, fingerprints.normalise(change_one_word(long_text)), threshold=0.8
    )
    short = fingerprints.normalise('Define the word "argue". Present reasons or arguments.')
    edited = fingerprints.normalise('Define the word "argue". Present reasons and arguments.')
    assert fingerprints.jaccard(fingerprints.shingles(short), fingerprints.shingles(edited)) < 0.8
    assert fingerprints.is_near_duplicate(short, edited, threshold=0.8)
    assert set(fingerprints.near_keys(short, b"\0" * 512)) & set(
        fingerprints.near_keys(edited, b"\0" * 512)
    ) - set(fingerprints.band_keys(b"\0" * 512))
    assert not fingerprints.is_near_duplicate(
        fingerprints.normalise(sentence(1)), fingerprints.normalise(sentence(2)), threshold=0.8
    )
    assert fingerprints.normalise("  Ｈｅｌｌｏ\tWORLD\n") == "hello world"
