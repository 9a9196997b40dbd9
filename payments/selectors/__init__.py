"""Reads of the payments app: ledger balances, entitlements, orders and reports.

The entitlement checks are re-exported here because other apps look them up as
``payments.selectors.user_has_listing_entitlement`` (see marketplace.selectors).
"""

from payments.selectors.entitlements import (
    entitled_sample_refs,
    user_has_listing_entitlement,
    user_has_sample_entitlement,
)

__all__ = ["entitled_sample_refs", "user_has_listing_entitlement", "user_has_sample_entitlement"]
