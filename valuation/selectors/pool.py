"""The candidate pool: sellable samples of the versions a job values, streamed by id."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet

from marketplace.models import DatasetVersion, Listing, Sample
from valuation.models import SampleModelFeature


def pool_samples(*, version_ids: list[int] | tuple[int, ...]) -> QuerySet[Sample]:
    """Samples that get a value: every non-duplicate sample of the pool's versions.

    Duplicates are never sold nor paid for (see marketplace.models), so they are counted on
    the results page but not valued.
    """
    return Sample.objects.filter(version_id__in=version_ids, duplicate_of__isnull=True)


def poolable_versions() -> QuerySet[DatasetVersion]:
    """Versions a buyer may put in a pool: the current ready version of a published listing."""
    return DatasetVersion.objects.filter(
        status=DatasetVersion.Status.READY,
        listing__status=Listing.Status.PUBLISHED,
        listing__current_version_id=F("id"),
    ).select_related("listing")


def poolable_listings() -> QuerySet[Listing]:
    return (
        Listing.objects.filter(
            status=Listing.Status.PUBLISHED,
            current_version__status=DatasetVersion.Status.READY,
        )
        .select_related("current_version")
        .order_by("title", "id")
    )


def feature_set_rows_missing(*, feature_set_id: int) -> Exists:
    """A filter for ``Sample`` querysets: the sample has no row in this model-feature set."""
    return ~Exists(
        SampleModelFeature.objects.filter(feature_set_id=feature_set_id, sample_id=OuterRef("pk"))
    )


def version_sample_ids(
    *,
    version_id: int,
    batch_size: int,
    missing_embedding: bool = False,
    missing_layer_features: int | None = None,
) -> Iterator[tuple[int, int]]:
    """(sample id, token count) of a version's pool samples in id order, streamed. With
    ``missing_embedding``, only those without a sentence embedding or, given a model-feature
    set id in ``missing_layer_features``, without a row in that set."""
    queryset = pool_samples(version_ids=[version_id])
    if missing_embedding:
        missing = Q(embedding__isnull=True)
        if missing_layer_features is not None:
            missing |= feature_set_rows_missing(feature_set_id=missing_layer_features)
        queryset = queryset.filter(missing)
    yield from (
        queryset.order_by("id").values_list("id", "token_count").iterator(chunk_size=batch_size)
    )


def sample_id_pages(
    queryset: QuerySet[Sample],
    *,
    page_size: int,
    id_min: int | None = None,
    id_max: int | None = None,
) -> Iterator[list[int]]:
    """Ids of ``queryset`` (within [id_min, id_max] if given) in id order, a page at a time.
    Keyset paging: each page is read after the caller handled the previous one, so a caller
    that commits per page resumes where it stopped when run again."""
    if id_min is not None:
        queryset = queryset.filter(id__gte=id_min)
    if id_max is not None:
        queryset = queryset.filter(id__lte=id_max)
    after = 0
    while True:
        ids = list(
            queryset.filter(id__gt=after).order_by("id").values_list("id", flat=True)[:page_size]
        )
        if not ids:
            return
        yield ids
        after = ids[-1]


def pool_count(*, version_ids: list[int]) -> int:
    return pool_samples(version_ids=version_ids).count()


def pool_counts_by_version(*, version_ids: list[int]) -> dict[int, int]:
    rows = (
        pool_samples(version_ids=version_ids)
        .values("version_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {version_id: 0 for version_id in version_ids}
    counts.update({row["version_id"]: row["n"] for row in rows})
    return counts
