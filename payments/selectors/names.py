"""Names for the ids that money pages, receipts and CSV exports carry.

Orders and payout lines refer to datasets and providers by plain ids (they outlive a listing
take-down); a person reads names. Every money page and export labels its rows through these.
"""

from __future__ import annotations

from collections.abc import Iterable

from accounts.models import Profile
from marketplace.models import DatasetVersion, Listing


def dataset_version_names(*, refs: Iterable[str]) -> dict[str, str]:
    """'Listing title v2' by dataset version id (as stored, a string); unknown ids are
    named 'dataset version <id>'."""
    wanted = {ref for ref in refs}
    numeric = [int(ref) for ref in wanted if ref.isdigit()]
    names = {
        str(pk): f"{title} v{number}"
        for pk, title, number in DatasetVersion.objects.filter(pk__in=numeric).values_list(
            "pk", "listing__title", "number"
        )
    }
    return {ref: names.get(ref, f"dataset version {ref}") for ref in wanted}


def provider_names(*, refs: Iterable[str | int]) -> dict[str, str]:
    """Display names by provider user id (as a string)."""
    wanted = {str(ref) for ref in refs}
    numeric = [int(ref) for ref in wanted if ref.isdigit()]
    names = {
        str(profile.user_id): str(profile)
        for profile in Profile.objects.filter(user_id__in=numeric).select_related("user")
    }
    return {ref: names.get(ref, f"provider {ref}") for ref in wanted}


def listing_titles(*, refs: Iterable[str]) -> dict[str, str]:
    """Listing titles by listing id (as a string); unknown ids are named 'listing <id>'."""
    wanted = {str(ref) for ref in refs}
    numeric = [int(ref) for ref in wanted if ref.isdigit()]
    titles = {
        str(pk): title
        for pk, title in Listing.objects.filter(pk__in=numeric).values_list("pk", "title")
    }
    return {ref: titles.get(ref, f"listing {ref}") for ref in wanted}
