"""Access grants: who may read which samples in full (see ``marketplace.models.AccessGrant``).

Higher apps that sell access (payments) call these; marketplace and valuation only read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction

from marketplace.models import AccessGrant


@transaction.atomic
def access_grant_many(
    *,
    user_id: int,
    sample_listing_ids: Iterable[tuple[int, int]],
    source: str,
    granted_at: datetime,
) -> int:
    """Grant ``user_id`` each (sample id, listing id) for ``source``; idempotent per source
    and sample. Returns how many grants were new."""
    grants = [
        AccessGrant(
            user_id=user_id,
            sample_ref=sample_id,
            listing_ref=listing_id,
            source=source,
            granted_at=granted_at,
        )
        for sample_id, listing_id in sample_listing_ids
    ]
    existing = set(
        AccessGrant.objects.filter(
            source=source, sample_ref__in=[g.sample_ref for g in grants]
        ).values_list("sample_ref", flat=True)
    )
    new = [grant for grant in grants if grant.sample_ref not in existing]
    AccessGrant.objects.bulk_create(new)
    return len(new)


def access_revoke_for_source(*, source: str, revoked_at: datetime) -> int:
    """Revoke every live grant of ``source`` (a full refund of an order); returns how many."""
    return AccessGrant.objects.filter(source=source, revoked_at__isnull=True).update(
        revoked_at=revoked_at
    )
