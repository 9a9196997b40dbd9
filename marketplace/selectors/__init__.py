"""Reads on the marketplace (one module per concern). Every read of listings, versions and
samples goes through here, so the visibility rules live in one place:

* samples and versions are only shown when their version is ``READY``;
* buyers and anonymous visitors see published listings only; a provider sees their own
  listings in every state; staff see everything;
* a buyer's target tasks and target samples are visible to that buyer and staff only;
* a user reads a sample in full only with a live access grant (``access``);
* ``sellable_samples`` is what pricing, selection and valuation may sell: samples of the
  current version of published listings that are not duplicates.
"""

from __future__ import annotations

from marketplace.selectors.access import (
    readable_sample_ids,
    user_can_read_sample,
    user_has_listing_access,
)
from marketplace.selectors.listings import (
    PUBLISHED,
    READY,
    SEARCH_CONFIG,
    SORTS,
    demo_notices_text,
    listing_can_manage,
    listing_facets,
    listing_facets_compute,
    listing_get_for_owner,
    listing_get_for_viewer,
    listing_preview_samples,
    listing_search,
    listing_search_vector,
    listings_of_provider,
    listings_preview_sample_ids,
    listings_preview_samples,
    listings_visible,
    sort_choices,
)
from marketplace.selectors.targets import (
    target_samples,
    target_task_get_for_viewer,
    target_tasks_of_buyer,
    target_tasks_visible,
)
from marketplace.selectors.versions import (
    sellable_samples,
    version_duplicate_summary,
    version_duplicates,
    version_get_for_owner,
    version_samples,
    versions_for_viewer,
)

__all__ = [
    "SORTS",
    "PUBLISHED",
    "READY",
    "SEARCH_CONFIG",
    "demo_notices_text",
    "listing_can_manage",
    "listing_facets",
    "listing_facets_compute",
    "listing_get_for_owner",
    "listing_get_for_viewer",
    "listing_preview_samples",
    "listing_search",
    "listing_search_vector",
    "listings_of_provider",
    "listings_preview_sample_ids",
    "listings_preview_samples",
    "listings_visible",
    "readable_sample_ids",
    "sellable_samples",
    "sort_choices",
    "target_samples",
    "target_task_get_for_viewer",
    "target_tasks_of_buyer",
    "target_tasks_visible",
    "user_can_read_sample",
    "user_has_listing_access",
    "version_duplicate_summary",
    "version_duplicates",
    "version_get_for_owner",
    "version_samples",
    "versions_for_viewer",
]
