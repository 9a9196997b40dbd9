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
                ready_listing(provider, ROWS, title=f"Contracts {index}",
                              tags=[f"law-{index}", "contracts"])
            )  # fmt: skip
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
def test_catalogue_queries_do_not_grow_with_listings(client, buyer_a, grow, url):
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
