"""Dataset versions and their samples; ``sellable_samples`` is what may be sold."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, F, Q, QuerySet, Sum

from marketplace.models import DatasetVersion, Listing, Sample
from marketplace.selectors.listings import listing_can_manage

User = AbstractBaseUser | AnonymousUser
READY = DatasetVersion.Status.READY
PUBLISHED = Listing.Status.PUBLISHED


def versions_for_viewer(*, listing: Listing, user: User) -> QuerySet[DatasetVersion]:
    """Owner and staff see every version; others only ready ones of a visible listing."""
    versions = DatasetVersion.objects.filter(listing=listing).order_by("-number")
    if listing_can_manage(user=user, listing=listing):
        return versions
    return versions.filter(status=READY)


def version_get_for_owner(*, version_id: int, user: User) -> DatasetVersion | None:
    """A version with its validation report, for its listing's provider and staff only."""
    version = DatasetVersion.objects.select_related("listing").filter(pk=version_id).first()
    if version is None or not listing_can_manage(user=user, listing=version.listing):
        return None
    return version


def version_samples(*, version: DatasetVersion) -> QuerySet[Sample]:
    """Samples of a ready version (nothing for any other state)."""
    if version.status != READY:
        return Sample.objects.none()
    return Sample.objects.filter(version=version).order_by("position")


def version_duplicates(*, version: DatasetVersion) -> QuerySet[Sample]:
    """The version's flagged samples with their originals and the originals' listings."""
    if version.status != READY:
        return Sample.objects.none()
    return (
        Sample.objects.filter(version=version, duplicate_of__isnull=False)
        .select_related(
            "duplicate_of",
            "duplicate_of__version",
            "duplicate_of__version__listing",
            "duplicate_of__version__listing__provider",
        )
        .order_by("position")
    )


def version_duplicate_summary(*, version: DatasetVersion) -> dict[str, int]:
    """Counts for dashboards: samples, exact/near duplicates, sellable samples and tokens."""
    if version.status != READY:
        return {"samples": 0, "exact": 0, "near": 0, "sellable": 0, "sellable_tokens": 0}
    counts = Sample.objects.filter(version=version).aggregate(
        samples=Count("id"),
        exact=Count("id", filter=Q(duplicate_kind=Sample.DuplicateKind.EXACT)),
        near=Count("id", filter=Q(duplicate_kind=Sample.DuplicateKind.NEAR)),
        sellable=Count("id", filter=Q(duplicate_of__isnull=True)),
        sellable_tokens=Sum("token_count", filter=Q(duplicate_of__isnull=True)),
    )
    counts["sellable_tokens"] = counts["sellable_tokens"] or 0
    return counts


def sellable_samples(
    *,
    listings: Iterable[Listing] | QuerySet[Listing] | None = None,
    listing: Listing | None = None,
) -> QuerySet[Sample]:
    """What may be sold and paid for: samples of the *current* ready version of *published*
    listings that are not duplicates. Pricing, subset selection and valuation read only this.
    """
    queryset = Sample.objects.filter(
        version__status=READY,
        version__listing__status=PUBLISHED,
        version__listing__current_version_id=F("version_id"),
        duplicate_of__isnull=True,
    )
    if listing is not None:
        queryset = queryset.filter(version__listing=listing)
    if listings is not None:
        queryset = queryset.filter(version__listing__in=listings)
    return queryset.order_by("version_id", "position")
