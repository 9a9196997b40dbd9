"""Listings: who sees which, search, facets and previews."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    Expression,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils.text import slugify

from accounts.selectors import user_has_role
from marketplace import conf
from marketplace.models import DatasetVersion, Listing, Sample, Tag
from marketplace.selectors.access import user_has_listing_access

User = AbstractBaseUser | AnonymousUser
READY = DatasetVersion.Status.READY
PUBLISHED = Listing.Status.PUBLISHED


SORTS: dict[str, tuple[str, ...]] = {
    "newest": ("-listed_at", "-id"),
    "oldest": ("listed_at", "id"),
    "price_asc": ("floor_price_per_1k_tokens", "-listed_at", "-id"),
    "price_desc": ("-floor_price_per_1k_tokens", "-listed_at", "-id"),
    "size_asc": ("current_version__token_count", "-listed_at", "-id"),
    "size_desc": ("-current_version__token_count", "-listed_at", "-id"),
    # "value" sorts on the ``average_value`` annotation the valuation app provides.
    "value": ("-average_value", "-listed_at", "-id"),
}


def listing_can_manage(*, user: User, listing: Listing) -> bool:
    """Owner or staff: may see drafts, versions, validation reports and duplicates."""
    if not user.is_authenticated:
        return False
    return listing.provider_id == user.pk or user_has_role(user, "staff")


def listing_get_for_viewer(*, slug: str, user: User) -> Listing | None:
    """The listing if ``user`` may see it (published; owner; staff; past buyer), else None."""
    listing = (
        Listing.objects.select_related("provider", "provider__profile", "current_version")
        .prefetch_related("tags")
        .filter(slug=slug)
        .first()
    )
    if listing is None:
        return None
    if listing.status == PUBLISHED or listing_can_manage(user=user, listing=listing):
        return listing
    if listing.status != Listing.Status.DRAFT and user_has_listing_access(
        user=user, listing=listing
    ):
        return listing
    return None


def listing_get_for_owner(*, slug: str, user: User) -> Listing | None:
    """The listing if ``user`` owns it or is staff, else None."""
    listing = Listing.objects.select_related("current_version").filter(slug=slug).first()
    if listing is None or not listing_can_manage(user=user, listing=listing):
        return None
    return listing


def listings_of_provider(*, provider: AbstractBaseUser) -> QuerySet[Listing]:
    """A provider's listings in every state, with their current version's numbers.

    Annotations: ``duplicate_count`` (flagged samples of the current version) and
    ``upload_in_progress`` (a version is being processed or awaits the provider's choice).
    """
    duplicates = (
        Sample.objects.filter(version_id=OuterRef("current_version_id"), duplicate_of__isnull=False)
        .order_by()
        .values("version_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    in_progress = DatasetVersion.objects.filter(
        listing_id=OuterRef("pk"), status__in=DatasetVersion.IN_PROGRESS
    )
    return (
        Listing.objects.filter(provider=provider)
        .select_related("current_version")
        .prefetch_related("tags")
        .annotate(
            duplicate_count=Coalesce(Subquery(duplicates), 0),
            upload_in_progress=Exists(in_progress),
        )
        .order_by("-updated_at", "-id")
    )


def listings_visible(*, user: User) -> QuerySet[Listing]:
    """Listings ``user`` may open: published ones, plus their own, plus all for staff."""
    queryset = Listing.objects.select_related("current_version", "provider").prefetch_related(
        "tags"
    )
    if user_has_role(user, "staff"):
        return queryset
    if user.is_authenticated:
        return queryset.filter(Q(status=PUBLISHED) | Q(provider=user))
    return queryset.filter(status=PUBLISHED)


SEARCH_CONFIG = "english"


def listing_search_vector():
    """The weighted full-text vector of a listing (PostgreSQL): title A, description B,
    source and intended use C. Identical to the GIN index's expression (migration 0003)."""
    from django.contrib.postgres.search import SearchVector

    return (
        SearchVector("title", weight="A", config=SEARCH_CONFIG)
        + SearchVector("description", weight="B", config=SEARCH_CONFIG)
        + SearchVector("source", "intended_use", weight="C", config=SEARCH_CONFIG)
    )


def _text_filter(queryset: QuerySet[Listing], query: str) -> QuerySet[Listing]:
    terms = [term for term in query.split() if term]
    if not terms:
        return queryset
    # A websearch negation ("-legal") must not match the tag it excludes.
    tag_names = [slugify(term) for term in terms if not term.startswith("-")]
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank

        vector = listing_search_vector()
        search = SearchQuery(query, search_type="websearch", config=SEARCH_CONFIG)
        # Matches as id sets: the text match is answered by the GIN index (migration 0003),
        # not by computing every listing's vector; an OR with EXISTS would force a scan.
        text_ids = Listing.objects.annotate(search_vector=vector).filter(search_vector=search)
        tag_ids = Tag.listings.through.objects.filter(tag__name__in=tag_names)
        return queryset.annotate(search_rank=SearchRank(vector, search)).filter(
            Q(pk__in=text_ids.values("pk")) | Q(pk__in=tag_ids.values("listing_id"))
        )
    # Portable fallback (SQLite): every term must appear in the title, description or a tag.
    for term in terms:
        term_tag = Exists(Tag.objects.filter(listings=OuterRef("pk"), name__icontains=term))
        queryset = queryset.filter(
            Q(title__icontains=term) | Q(description__icontains=term) | term_tag
        )
    return queryset


def listing_search(
    *,
    query: str = "",
    tags: Iterable[str] = (),
    licence: str | None = None,
    language: str | None = None,
    currency: str | None = None,
    price_min: int | None = None,
    price_max: int | None = None,
    size_min: int | None = None,
    size_max: int | None = None,
    sort: str = "newest",
    value_expression: Expression | None = None,
) -> QuerySet[Listing]:
    """Published listings matching the filters, sorted.

    ``price_*`` are per 1,000 tokens in minor units (applied with ``currency``); ``size_*``
    are token counts of the current version. ``sort`` is a key of ``SORTS``; "value" needs
    ``value_expression`` (the valuation app's average sample value per listing) and
    otherwise raises ``ValueError``. Text search uses PostgreSQL full-text search (ranked
    for "relevance") when available, else case-insensitive matching.
    """
    queryset = Listing.objects.filter(status=PUBLISHED, current_version__status=READY)
    queryset = queryset.select_related("current_version", "provider", "provider__profile")
    queryset = queryset.prefetch_related("tags")
    if query.strip():
        queryset = _text_filter(queryset, query.strip())
    for tag in tags:
        queryset = queryset.filter(tags__name=slugify(tag))
    if licence:
        queryset = queryset.filter(licence__iexact=licence)
    if language:
        language = language.lower()
        queryset = queryset.filter(
            Q(language=language) | Q(language="", current_version__language=language)
        )
    if currency:
        queryset = queryset.filter(currency=currency.lower())
    if price_min is not None:
        queryset = queryset.filter(floor_price_per_1k_tokens__gte=price_min)
    if price_max is not None:
        queryset = queryset.filter(floor_price_per_1k_tokens__lte=price_max)
    if size_min is not None:
        queryset = queryset.filter(current_version__token_count__gte=size_min)
    if size_max is not None:
        queryset = queryset.filter(current_version__token_count__lte=size_max)
    if sort == "relevance":
        if "search_rank" in queryset.query.annotations:
            return queryset.order_by("-search_rank", "-listed_at", "-id")
        sort = "newest"
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; use one of {', '.join(sort_choices())}")
    if value_expression is not None:
        queryset = queryset.annotate(average_value=value_expression)
    if sort == "value":
        if value_expression is None:
            raise ValueError("sorting by value needs valuations, and there are none yet")
        return queryset.order_by(F("average_value").desc(nulls_last=True), "-listed_at", "-id")
    return queryset.order_by(*SORTS[sort])


def sort_choices(*, with_value: bool = False) -> list[str]:
    return [key for key in SORTS if with_value or key != "value"] + ["relevance"]


FACETS_CACHE_KEY = "marketplace:catalogue-facets"


def listing_facets() -> dict[str, list[Any]]:
    """Filter options present among published listings (for the browse page's selects),
    reused for ``CATALOGUE_FACETS_CACHE_SECONDS`` (same for every visitor; a new tag or
    licence shows within that time). Computing them reads every published listing."""
    seconds = conf.catalogue_facets_cache_seconds()
    if not seconds:
        return listing_facets_compute()
    return cache.get_or_set(FACETS_CACHE_KEY, listing_facets_compute, seconds)


def listing_facets_compute() -> dict[str, list[Any]]:
    """``listing_facets`` read now. Two queries: the 40 most used tags (counted over
    published listings, ties by name), and the distinct (licence, declared language,
    detected language) rows of published listings, so only distinct rows leave the
    database. A listing's language is its declared one, else its current version's
    detected one."""
    published = Listing.objects.filter(status=PUBLISHED, current_version__status=READY)
    tags = list(
        # Grouped by tag id and tag names are unique: no DISTINCT needed.
        Tag.objects.filter(listings__in=published)
        .annotate(n=Count("listings"))
        .order_by("-n", "name")
        .values_list("name", flat=True)[:40]
    )
    rows = (
        published.order_by()
        .values_list("licence", "language", "current_version__language")
        .distinct()
    )
    licences: set[str] = set()
    languages: set[str] = set()
    for licence, declared, detected in rows:
        licences.add(licence)
        if declared or detected:
            languages.add(declared or detected)
    return {"tags": tags, "licences": sorted(licences), "languages": sorted(languages)}


def listing_preview_samples(*, listing: Listing, size: int | None = None) -> list[Sample]:
    """Preview of the current version: the provider's picked ids, or a seeded random choice.

    Random previews are deterministic (seeded with the listing and version ids), so the same
    listing always shows the same samples. Duplicates are never shown.
    """
    return listings_preview_samples(listings=[listing], size=size)[listing.pk]


def listings_preview_samples(
    *, listings: Iterable[Listing], size: int | None = None
) -> dict[int, list[Sample]]:
    """``listing_preview_samples`` of many listings (by listing id), with one query for all
    of them (plus one per listing whose random draw found too few samples)."""
    return _preview_select(listings, size, rows=lambda queryset: queryset)


def listings_preview_sample_ids(
    *, listings: Iterable[Listing], size: int | None = None
) -> dict[int, set[int]]:
    """Ids of each listing's preview samples (by listing id): the same samples as
    ``listings_preview_samples``, without loading their text. One query for all listings
    (plus one per listing whose random draw found too few samples)."""
    chosen = _preview_select(
        listings, size, rows=lambda queryset: queryset.values_list(*_PREVIEW_FIELDS, named=True)
    )
    return {listing_pk: {row.id for row in rows} for listing_pk, rows in chosen.items()}


# What the preview rules read of a sample: rows passed around carry at least these.
_PREVIEW_FIELDS = ("id", "version_id", "position", "external_id")


@dataclass(frozen=True)
class _PreviewPlan:
    """One listing's preview draw: ``keys`` are the picked external ids (``picked``) or the
    seeded random positions, in preview order; ``count`` samples are shown."""

    version_id: int
    keys: list
    count: int
    picked: bool


def _preview_plans(listings: list[Listing], size: int | None) -> dict[int, _PreviewPlan]:
    plans: dict[int, _PreviewPlan] = {}
    for listing in listings:
        version = listing.current_version
        if version is None or version.status != READY or version.sample_count == 0:
            continue
        count = size or listing.preview_size
        if listing.preview_mode == Listing.PreviewMode.PICKED and listing.preview_sample_ids:
            keys = list(listing.preview_sample_ids)[:count]
            plans[listing.pk] = _PreviewPlan(version.pk, keys, count, picked=True)
        else:
            rng = random.Random(f"preview:{listing.pk}:{version.pk}")
            keys = rng.sample(range(version.sample_count), min(version.sample_count, count * 4))
            plans[listing.pk] = _PreviewPlan(version.pk, keys, count, picked=False)
    return plans


def _preview_draw_querysets(plans: list[_PreviewPlan]) -> list[QuerySet[Sample]]:
    """Non-duplicate samples at the plans' keys: (version, position) for random previews,
    (version, external id) for picked ones. One queryset per kind present (at most two),
    which the caller runs as one query.

    On PostgreSQL each kind is a row-value semi-join against ``unnest`` of two arrays,
    answered by the (version, position) / (version, external_id) unique indexes and planned
    in about a millisecond; the ``OR`` of one ``version_id = ... AND position IN (...)``
    branch per listing costs ~20 ms of planning there for a page of 50 listings. Elsewhere
    (SQLite) that portable ``OR``, which SQLite plans cheaply.
    """
    base = Sample.objects.filter(duplicate_of__isnull=True).order_by()
    if connection.vendor != "postgresql":
        condition = Q()
        for plan in plans:
            column = "external_id" if plan.picked else "position"
            condition |= Q(version_id=plan.version_id, **{f"{column}__in": plan.keys})
        return [base.filter(condition)]
    kinds: dict[str, tuple[list[int], list[Any]]] = {"position": ([], []), "external_id": ([], [])}
    for plan in plans:
        versions, keys = kinds["external_id" if plan.picked else "position"]
        versions += [plan.version_id] * len(plan.keys)
        # External ids are text, as the ORM's lookup on the CharField would make them.
        keys += [str(key) for key in plan.keys] if plan.picked else plan.keys
    quote, table = connection.ops.quote_name, connection.ops.quote_name(Sample._meta.db_table)
    querysets = []
    for column, (versions, keys) in kinds.items():
        if not versions:
            continue
        array_type = "varchar" if column == "external_id" else "integer"
        sql = (
            f"({table}.{quote('version_id')}, {table}.{quote(column)}) IN "
            f"(SELECT * FROM unnest(%s::bigint[], %s::{array_type}[]))"
        )
        querysets.append(base.filter(RawSQL(sql, (versions, keys), output_field=BooleanField())))
    return querysets


def _preview_select(
    listings: Iterable[Listing],
    size: int | None,
    rows: Callable[[QuerySet[Sample]], Iterable[Any]],
) -> dict[int, list[Any]]:
    """The preview rules, once for both shapes: ``rows`` turns a Sample queryset into what
    is loaded (Sample objects, or named rows of ``_PREVIEW_FIELDS``).

    Picked previews show the picked ids that exist and are not duplicates, in the picked
    order. Random previews show the first ``count`` non-duplicates among the seeded random
    positions, topped up with the lowest remaining positions when the draw found too few.
    """
    listings = list(listings)
    plans = _preview_plans(listings, size)
    by_position: dict[tuple[int, int], Any] = {}
    by_external_id: dict[tuple[int, str], Any] = {}
    if plans:
        parts = [rows(queryset) for queryset in _preview_draw_querysets(list(plans.values()))]
        draw = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
        for row in draw:
            by_position[(row.version_id, row.position)] = row
            by_external_id[(row.version_id, row.external_id)] = row
    result: dict[int, list[Any]] = {listing.pk: [] for listing in listings}
    for listing_pk, plan in plans.items():
        found = by_external_id if plan.picked else by_position
        keys = ((plan.version_id, key) for key in plan.keys)
        chosen = [found[key] for key in keys if key in found][: plan.count]
        if not plan.picked and len(chosen) < plan.count:
            chosen_ids = {row.id for row in chosen}
            rest = Sample.objects.filter(version_id=plan.version_id, duplicate_of__isnull=True)
            rest = rest.exclude(pk__in=chosen_ids).order_by("position")
            chosen += list(rows(rest)[: plan.count - len(chosen)])
        result[listing_pk] = chosen
    return result


def demo_notices_text() -> str:
    """The demo datasets' licence notices, verbatim (``demo/data/NOTICE.txt``); "" when the
    file is absent (a deployment without the demo folder)."""
    from pathlib import Path

    from django.conf import settings

    path = Path(settings.BASE_DIR) / "demo" / "data" / "NOTICE.txt"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""
