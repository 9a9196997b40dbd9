"""Reads of the payments app: ledger balances, entitlements, orders and reports.

The entitlement checks are payments' own rules (a quote never sells a sample twice, downloads).
Marketplace and valuation pages read marketplace access grants, which payments writes beside
each entitlement (payments.services.orders and refunds).
"""

from payments.selectors.entitlements import (
    entitled_sample_refs,
    user_has_listing_entitlement,
    user_has_sample_entitlement,
)

__all__ = ["entitled_sample_refs", "user_has_listing_entitlement", "user_has_sample_entitlement"]
