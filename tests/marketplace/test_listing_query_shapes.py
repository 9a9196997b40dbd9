"""The catalogue's facets and the batched preview lookups: same results as the reference
rules, in a fixed number of queries. Runs on SQLite (portable ``OR`` draw) and on PostgreSQL
(``unnest`` semi-join draw)."""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace.models import DatasetVersion, Listing, Sample
from marketplace.selectors import (
    listing_facets_compute,
    listing_preview_samples,
    listings_preview_sample_ids,
    listings_preview_samples,
)
from marketplace.services.listings import listing_update
from tests.marketplace.conftest import sentence

pytestmark = pytest.mark.django_db


def rows(seed: int, n: int) -> list[dict]:
    """n distinct rows (ids s0..), texts distinct from every other seed's."""
    return [{"id": f"s{i}", "text": sentence(seed * 1000 + i)} for i in range(n)]


def fresh(*listings: Listing) -> list[Listing]:
    """The listings as a results page loads them (current version joined)."""
    by_pk = Listing.objects.select_related("current_version").in_bulk([x.pk for x in listings])
    return [by_pk[x.pk] for x in listings]


def drawn_positions(listing: Listing, size: int | None = None) -> list[int]:
    """The seeded random positions a random preview looks at (the documented rule)."""
    version = listing.current_version
    count = size or listing.preview_size
    rng = random.Random(f"preview:{listing.pk}:{version.pk}")
    return rng.sample(range(version.sample_count), min(version.sample_count, count * 4))


def as_ids(previews: dict[int, list[Sample]]) -> dict[int, set[int]]:
    return {pk: {sample.pk for sample in samples} for pk, samples in previews.items()}


def assert_same_selection(listings: list[Listing], size: int | None = None) -> dict:
    samples = listings_preview_samples(listings=listings, size=size)
    ids = listings_preview_sample_ids(listings=listings, size=size)
    assert ids == as_ids(samples)
    for listing in listings:  # the batch equals one listing at a time
        one = listing_preview_samples(listing=listing, size=size)
        assert [s.pk for s in one] == [s.pk for s in samples[listing.pk]], listing.title
    return samples


def non_duplicate_positions(listing: Listing) -> set[int]:
    return set(
        Sample.objects.filter(
            version=listing.current_version, duplicate_of__isnull=True
        ).values_list("position", flat=True)
    )


# --- previews --------------------------------------------------------------------------------


def test_picked_previews_same_ids_in_picked_order(provider_a, ready_listing):
    listing = ready_listing(provider_a, rows(1, 12), title="Picked")
    listing_update(
        listing=listing,
        actor=provider_a,
        data={"preview_mode": "picked", "preview_sample_ids": ["s9", "s2", "s11", "s4"]},
    )
    other = ready_listing(provider_a, rows(2, 12), title="Picked too")
    listing_update(
        listing=other,
        actor=provider_a,
        data={"preview_mode": "picked", "preview_sample_ids": ["s0"]},
    )
    listing, other = fresh(listing, other)

    samples = assert_same_selection([listing, other])
    assert [s.external_id for s in samples[listing.pk]] == ["s9", "s2", "s11", "s4"]
    assert [s.external_id for s in samples[other.pk]] == ["s0"]
    # ``size`` cuts the picked list, in the picked order.
    assert [s.external_id for s in assert_same_selection([listing], size=2)[listing.pk]] == [
        "s9",
        "s2",
    ]


def test_random_previews_same_ids_as_samples(provider_a, ready_listing):
    made = [
        ready_listing(provider_a, rows(10 + i, 25), title=f"Random {i}", preview_size=3 + i)
        for i in range(3)
    ]
    listings = fresh(*made)
    samples = assert_same_selection(listings)
    for listing in listings:
        chosen = samples[listing.pk]
        assert len(chosen) == listing.preview_size
        # No duplicates in these versions: the first drawn positions, in draw order.
        assert [s.position for s in chosen] == drawn_positions(listing)[: listing.preview_size]
    assert_same_selection(listings, size=2)


def test_duplicates_among_drawn_positions_are_never_shown(provider_a, ready_listing):
    """20 rows, 16 of them copies of the first 4: a draw of 12 positions always hits copies.
    Listings are added until one draw holds too few originals, so the top-up from the lowest
    positions is exercised too (deterministic once the ids are known)."""
    made, topped_up = [], None
    for index in range(20):
        originals = [{"id": f"o{i}", "text": sentence(5000 + index * 10 + i)} for i in range(4)]
        copies = [{"id": f"c{i}", "text": originals[i % 4]["text"]} for i in range(16)]
        listing = fresh(
            ready_listing(provider_a, originals + copies, title=f"Dupes {index}", preview_size=3)
        )[0]
        originals_at = non_duplicate_positions(listing)
        assert originals_at == {0, 1, 2, 3}
        assert set(drawn_positions(listing)) - originals_at  # copies were drawn
        made.append(listing)
        if len(set(drawn_positions(listing)) & originals_at) < 3:
            topped_up = listing
            break
    assert topped_up is not None, "no draw needed the top-up in 20 tries"

    samples = assert_same_selection(made)
    for listing in made:
        chosen = samples[listing.pk]
        assert {s.position for s in chosen} <= {0, 1, 2, 3}
        assert all(s.duplicate_of_id is None for s in chosen)
        assert len(chosen) == 3
    drawn = [p for p in drawn_positions(topped_up) if p < 4]
    expected = drawn + [p for p in range(4) if p not in drawn][: 3 - len(drawn)]
    assert [s.position for s in samples[topped_up.pk]] == expected


def test_version_too_small_for_the_draw(provider_a, ready_listing):
    tiny = ready_listing(provider_a, rows(30, 3), title="Tiny", preview_size=5)
    half = ready_listing(provider_a, rows(31, 8), title="Half", preview_size=5)  # 8 < 20 keys
    normal = ready_listing(provider_a, rows(32, 40), title="Normal", preview_size=5)
    listings = fresh(tiny, half, normal)
    samples = assert_same_selection(listings)
    assert sorted(s.position for s in samples[tiny.pk]) == [0, 1, 2]
    assert len(samples[half.pk]) == 5 and len(samples[normal.pk]) == 5
    # A size larger than the version: every sample, as the top-up leaves nothing out.
    assert len(assert_same_selection(listings, size=20)[half.pk]) == 8


def test_listings_without_a_ready_version_have_empty_previews(
    provider_a, ready_listing, make_listing
):
    draft = make_listing(provider_a, title="No version yet")
    ready = ready_listing(provider_a, rows(40, 6), title="Ready one")
    listings = fresh(draft, ready)
    assert listings_preview_sample_ids(listings=listings)[draft.pk] == set()
    assert listings_preview_sample_ids(listings=[]) == {}
    assert_same_selection(listings)


def test_preview_lookup_queries_do_not_grow_with_listings(provider_a, ready_listing):
    def make(first: int, n: int) -> list[Listing]:
        made = []
        for i in range(first, first + n):
            listing = ready_listing(provider_a, rows(100 + i, 12), title=f"Grow {i}")
            if i % 3 == 0:  # a mix of picked and random previews
                listing_update(
                    listing=listing,
                    actor=provider_a,
                    data={"preview_mode": "picked", "preview_sample_ids": ["s5", "s1"]},
                )
            made.append(listing)
        return fresh(*made)

    few = make(0, 3)
    many = few + make(3, 9)
    counts = []
    for listings in (few, many):
        with CaptureQueriesContext(connection) as ids_queries:
            ids = listings_preview_sample_ids(listings=listings)
        with CaptureQueriesContext(connection) as samples_queries:
            samples = listings_preview_samples(listings=listings)
        assert ids == as_ids(samples)
        counts.append((len(ids_queries), len(samples_queries)))
    assert counts == [(1, 1), (1, 1)]


def test_preview_ids_do_not_load_text(provider_a, ready_listing):
    listing = fresh(ready_listing(provider_a, rows(50, 12), title="Light"))[0]
    with CaptureQueriesContext(connection) as queries:
        listings_preview_sample_ids(listings=[listing])
    (sql,) = [q["sql"] for q in queries.captured_queries]
    select = sql.split(" FROM ")[0]
    for column in ("text", "prompt", "response", "minhash", "embedding"):
        assert f'"{column}"' not in select


# --- facets ----------------------------------------------------------------------------------


def test_facets_tags_licences_languages(provider_a, provider_b, ready_listing):
    def published(title, seed, **fields):
        return ready_listing(provider_a, rows(seed, 3), title=title, **fields)

    one = published("One", 60, tags=["contracts", "law", "zeta"], licence="MIT", language="en")
    two = published("Two", 61, tags=["contracts", "law"], licence="Apache-2.0", language="")
    three = published("Three", 62, tags=["contracts", "alpha"], licence="MIT", language="")
    four = published("Four", 63, tags=[], licence="CC-BY-4.0", language="")
    hidden = ready_listing(
        provider_b,
        rows(64, 3),
        title="Draft",
        publish=False,
        tags=["contracts", "secret"],
        licence="GPL-3.0-only",
        language="ja",
    )
    detected = {one: "de", two: "fr", three: "fr", four: "", hidden: "ko"}
    for listing, language in detected.items():
        DatasetVersion.objects.filter(pk=listing.current_version_id).update(language=language)

    assert listing_facets_compute() == {
        # by use among published listings, then by name; the draft's tags do not count
        "tags": ["contracts", "law", "alpha", "zeta"],
        "licences": ["Apache-2.0", "CC-BY-4.0", "MIT"],
        # declared wins over detected ("en", not "de"); detected when none is declared;
        # a listing with neither adds nothing
        "languages": ["en", "fr"],
    }


def test_facets_when_nothing_is_published(provider_a, ready_listing):
    ready_listing(provider_a, rows(70, 3), title="Draft only", publish=False, tags=["x"])
    assert listing_facets_compute() == {"tags": [], "licences": [], "languages": []}


def test_the_catalogue_reuses_its_facets_for_the_cache_time(
    settings, provider_a, ready_listing, django_assert_num_queries
):
    from marketplace.selectors import listing_facets

    settings.CATALOGUE_FACETS_CACHE_SECONDS = 60
    ready_listing(provider_a, rows(70, 3), title="One", tags=["law"], licence="MIT")
    with django_assert_num_queries(2):
        first = listing_facets()
    ready_listing(provider_a, rows(70, 4), title="Two", tags=["news"], licence="CC0-1.0")
    with django_assert_num_queries(0):
        assert (
            listing_facets()
            == first
            == {"tags": ["law"], "licences": ["MIT"], "languages": ["und"]}
        )
    settings.CATALOGUE_FACETS_CACHE_SECONDS = 0  # read on every page
    with django_assert_num_queries(2):
        assert listing_facets()["licences"] == ["CC0-1.0", "MIT"]
