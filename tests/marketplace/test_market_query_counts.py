"""The catalogue, search, a listing page and the listings API run a fixed number of queries
however many listings, tags and samples there are (no query per row)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db

ROWS = [{"text": f"a sample about contracts and storage number {i}"} for i in range(12)]


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


@pytest.fixture
def grow(ready_listing, provider_a, provider_b):
    """grow(n): n more published listings, alternating providers, each with two tags."""
    made: list = []

    def more(n: int):
        for _ in range(n):
            index = len(made)
            provider = provider_a if index % 2 else provider_b
            made.append(
                ready_listing(
                    provider, ROWS, title=f"Contracts {index}", tags=[f"law-{index}", "contracts"]
                )
            )
        return made

    return more


@pytest.mark.parametrize(
    "url",
    [
        "/data/",
        "/data/?q=contracts",
        "/data/?tag=contracts",
        "/data/?sort=price_asc",
        "/data/?q=contracts&sort=relevance",
        "/api/marketplace/listings/",
        "/api/marketplace/listings/?q=contracts&tag=contracts",
    ],
)
def test_catalogue_queries_do_not_grow_with_listings(client, buyer_a, grow, url, settings):
    settings.CATALOGUE_FACETS_CACHE_SECONDS = 0  # both requests read the facets
    client.force_login(buyer_a)
    grow(2)
    few = queries_for(client, url)
    grow(6)
    assert queries_for(client, url) == few


def test_listing_page_queries_do_not_grow_with_samples_or_tags(
    client, buyer_a, ready_listing, provider_a
):
    client.force_login(buyer_a)
    small = ready_listing(provider_a, ROWS[:3], title="Small", tags=["a"])
    large = ready_listing(provider_a, ROWS, title="Large", tags=["a", "b", "c", "d", "e"])
    assert queries_for(client, f"/data/{small.slug}/") == queries_for(
        client, f"/data/{large.slug}/"
    )


def reference_preview(listing, size=None):
    """The one-listing-at-a-time preview the batched selector replaced (same rules)."""
    import random

    from marketplace.models import Listing, Sample

    version = listing.current_version
    size = size or listing.preview_size
    samples = Sample.objects.filter(version=version, duplicate_of__isnull=True)
    if listing.preview_mode == Listing.PreviewMode.PICKED and listing.preview_sample_ids:
        picked = list(listing.preview_sample_ids)[:size]
        by_id = {sample.external_id: sample for sample in samples.filter(external_id__in=picked)}
        return [by_id[item] for item in picked if item in by_id]
    rng = random.Random(f"preview:{listing.pk}:{version.pk}")
    wanted = rng.sample(range(version.sample_count), min(version.sample_count, size * 4))
    by_position = {s.position: s for s in samples.filter(position__in=wanted)}
    chosen = [by_position[p] for p in wanted if p in by_position][:size]
    if len(chosen) < size:
        chosen += list(
            samples.exclude(pk__in={s.pk for s in chosen}).order_by("position")[
                : size - len(chosen)
            ]
        )
    return chosen


def test_batched_previews_equal_one_listing_at_a_time_in_one_query(provider_a, ready_listing):
    from marketplace.models import Listing
    from marketplace.selectors import listings_preview_samples
    from marketplace.services.listings import listing_update

    def rows(kind: str, n: int = 30) -> list[dict]:  # distinct texts: no cross-listing dupes
        return [{"id": f"s{i}", "text": f"{kind} preview sample {i} " * 3} for i in range(n)]

    random_one = ready_listing(provider_a, rows("random"), title="Random", preview_size=5)
    picked = ready_listing(provider_a, rows("picked"), title="Picked")
    listing_update(
        listing=picked,
        actor=provider_a,
        data={"preview_mode": "picked", "preview_sample_ids": ["s7", "s2", "s9"]},
    )
    short = ready_listing(provider_a, rows("short", 4), title="Short", preview_size=10)  # fill-up
    listings = list(
        Listing.objects.filter(pk__in=[random_one.pk, picked.pk, short.pk]).select_related(
            "current_version"
        )
    )
    with CaptureQueriesContext(connection) as queries:
        batched = listings_preview_samples(listings=listings)
    assert len(queries) == 2  # all three draws, then the short listing's fill-up
    for listing in listings:
        assert batched[listing.pk] == reference_preview(listing), listing.title
    assert [s.external_id for s in batched[picked.pk]] == ["s7", "s2", "s9"]
    assert len(batched[random_one.pk]) == 5 and len(batched[short.pk]) == 4
