"""Writes of the valuation app. Entry points used by other apps' pages::

from valuation.services import valuation_job_request, valuation_job_cancel, valuation_job_retry
from valuation.services import valuation_job_request_once  # idempotent, e.g. seed_demo
from valuation.services import version_embeddings_request  # at ingest, once a version is ready
"""

from valuation.services.embeddings import version_embeddings_request
from valuation.services.jobs import (
    valuation_job_cancel,
    valuation_job_request,
    valuation_job_request_once,
    valuation_job_retry,
)

__all__ = [
    "valuation_job_cancel",
    "valuation_job_request",
    "valuation_job_request_once",
    "valuation_job_retry",
    "version_embeddings_request",
]
