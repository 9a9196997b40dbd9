"""What a buyer owns, for payments' own rules: quotes skip owned samples, downloads.
Marketplace and valuation read the marketplace access grants written beside each entitlement.

An entitlement is live from payment until a full refund. It refers to samples and listings
by the ids stored on the order lines, so it survives a listing take-down.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from payments.models import OrderLine


def _live_lines(user: AbstractBaseUser | AnonymousUser):
    return OrderLine.objects.filter(
        order__entitlement__buyer_id=user.pk, order__entitlement__revoked_at__isnull=True
    )


def user_has_listing_entitlement(*, user: AbstractBaseUser | AnonymousUser, listing) -> bool:
    """True when ``user`` holds a live entitlement to at least one sample of ``listing``."""
    if not user.is_authenticated:
        return False
    return _live_lines(user).filter(listing_ref=str(listing.pk)).exists()


def user_has_sample_entitlement(*, user: AbstractBaseUser | AnonymousUser, sample_id: int) -> bool:
    """True when ``user`` bought sample ``sample_id`` and was not refunded in full."""
    if not user.is_authenticated:
        return False
    return _live_lines(user).filter(sample_ref=str(sample_id)).exists()


def entitled_sample_refs(*, user: AbstractBaseUser) -> set[str]:
    """Every sample id (as stored, a string) the user may download."""
    return set(_live_lines(user).values_list("sample_ref", flat=True))
