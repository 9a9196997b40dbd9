"""``listing_search`` on PostgreSQL: the full-text branch (weighted vector, websearch query,
ranked "relevance" sort, tag matches). Skips on SQLite; fails under REQUIRE_SERVICES=1."""

from __future__ import annotations

import pytest

from marketplace.selectors import listing_search

pytestmark = pytest.mark.django_db


def slugs(queryset) -> list[str]:
    return [listing.slug for listing in queryset]


@pytest.fixture
def catalogue(require_postgres, provider_a, ready_listing):
    rows = [{"text": "one small sample"}, {"text": "another small sample"}]
    # The word "contracts" sits in the title (weight A), the description (B), the intended
    # use (C) or only in a tag, so relevance must order them title > description > use.
    ready_listing(
        provider_a,
        rows,
        title="Court filings",
        description="Briefs and motions.",
        intended_use="Fine-tuning on contracts and pleadings.",
        tags=["law"],
    )
    ready_listing(
        provider_a,
        rows,
        title="Legal contracts",
        description="Plain-language agreements.",
        tags=["law"],
    )
    ready_listing(
        provider_a,
        rows,
        title="Business letters",
        description="Letters that mention contracts between firms.",
        tags=["prose", "letters"],
    )
    ready_listing(
        provider_a,
        rows,
        title="Medical notes",
        description="Clinical notes in German.",
        tags=["medicine", "contracts"],
    )
    ready_listing(provider_a, rows, title="Draft contracts", publish=False)
    return provider_a


def test_full_text_ranks_title_then_description_then_intended_use(catalogue):
    results = listing_search(query="contracts", sort="relevance")
    assert slugs(results) == [
        "legal-contracts",
        "business-letters",
        "court-filings",
        "medical-notes",
    ]
    ranks = [listing.search_rank for listing in results]
    assert ranks[0] > ranks[1] > ranks[2] > ranks[3] == 0


def test_full_text_stems_and_combines_terms(catalogue):
    # English stemming: "contract" finds "contracts"; websearch syntax: all terms, negation.
    assert slugs(listing_search(query="contract", sort="relevance"))[:3] == [
        "legal-contracts",
        "business-letters",
        "court-filings",
    ]
    assert slugs(listing_search(query="clinical german")) == ["medical-notes"]
    # A negated term excludes the listing even though one of its tags is "letters".
    # (ts_rank gives every match of a negated query the same tiny rank, so newest first.)
    assert slugs(listing_search(query="contracts -letters")) == [
        "medical-notes",
        "legal-contracts",
        "court-filings",
    ]
    assert slugs(listing_search(query="nothing-like-this")) == []


def test_full_text_with_tag_filter_and_other_sorts(catalogue):
    assert slugs(listing_search(query="contracts", tags=["law"], sort="relevance")) == [
        "legal-contracts",
        "court-filings",
    ]
    # Without "relevance", the usual sort applies (newest first).
    assert slugs(listing_search(query="contracts")) == [
        "medical-notes",
        "business-letters",
        "legal-contracts",
        "court-filings",
    ]
    assert listing_search(query="contracts", sort="relevance").count() == 4


def test_text_match_is_answered_by_the_gin_index(catalogue):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'listing_search_vector_gin'"
        )
        (definition,) = cursor.fetchone()
        assert "USING gin" in definition and "'english'::regconfig" in definition
        # Few rows here: forbid sequential scans so the plan shows whether the index fits.
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = listing_search(query="contracts", sort="relevance").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "listing_search_vector_gin" in plan, plan
