"""Reads on valuation jobs, their progress, scores and results (one module per concern).

Pool samples are streamed (``iterator`` / keyset ranges), never loaded whole.
"""

from __future__ import annotations

from valuation.selectors.jobs import (
    JobProgress,
    chunk_stage_counts,
    duration_text,
    job_eta_seconds,
    job_get_for_user,
    job_list_for_buyer,
    job_progress,
    job_version_ids,
    job_visible_to,
    task_for_buyer,
)
from valuation.selectors.listing_values import (
    ListingValuationSummary,
    latest_succeeded_job,
    listing_value_expression,
    listing_value_in_job,
    provider_valuation_summaries,
)
from valuation.selectors.pool import (
    feature_set_rows_missing,
    pool_count,
    pool_counts_by_version,
    pool_samples,
    poolable_listings,
    poolable_versions,
    sample_id_pages,
    version_sample_ids,
)
from valuation.selectors.results import (
    buyer_can_read_sample,
    buyer_readable_sample_ids,
    job_listing_summaries,
    job_ranked_scores,
    job_scores,
    ranked_rows,
    value_histogram,
)
from valuation.selectors.showcase import (
    ShowcaseListing,
    ValuationShowcase,
    demo_valuation_pending,
    demo_valuation_showcase,
)

__all__ = [
    "feature_set_rows_missing",
    "pool_count",
    "pool_counts_by_version",
    "pool_samples",
    "poolable_listings",
    "poolable_versions",
    "sample_id_pages",
    "version_sample_ids",
    "JobProgress",
    "chunk_stage_counts",
    "duration_text",
    "job_eta_seconds",
    "job_get_for_user",
    "job_list_for_buyer",
    "job_progress",
    "job_version_ids",
    "job_visible_to",
    "task_for_buyer",
    "buyer_can_read_sample",
    "buyer_readable_sample_ids",
    "job_listing_summaries",
    "job_ranked_scores",
    "job_scores",
    "ranked_rows",
    "value_histogram",
    "ListingValuationSummary",
    "latest_succeeded_job",
    "listing_value_expression",
    "listing_value_in_job",
    "provider_valuation_summaries",
    "ShowcaseListing",
    "ValuationShowcase",
    "demo_valuation_pending",
    "demo_valuation_showcase",
]
