"""Who may read which samples in full: live access grants (``marketplace.models.AccessGrant``).

Reads only; a denied check writes nothing.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from marketplace.models import AccessGrant, Listing

User = AbstractBaseUser | AnonymousUser


def _live_grants(user: User) -> QuerySet[AccessGrant]:
    return AccessGrant.objects.filter(user_id=user.pk, revoked_at__isnull=True)


def user_has_listing_access(*, user: User, listing: Listing) -> bool:
    """Whether ``user`` holds a live grant to at least one sample of ``listing`` (they keep it
    after a take-down)."""
    if not user.is_authenticated:
        return False
    return _live_grants(user).filter(listing_ref=listing.pk).exists()


def user_can_read_sample(*, user: User, sample_id: int) -> bool:
    """Whether ``user`` holds a live grant to sample ``sample_id``."""
    if not user.is_authenticated:
        return False
    return _live_grants(user).filter(sample_ref=sample_id).exists()


def readable_sample_ids(*, user: User) -> set[int]:
    """Every sample id ``user`` holds a live grant to."""
    if not user.is_authenticated:
        return set()
    return set(_live_grants(user).values_list("sample_ref", flat=True))
