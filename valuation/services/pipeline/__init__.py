"""The work of each pipeline step, one module per stage. Tasks call these between
``step_begin`` and ``step_finish`` (``valuation.services.steps``); each is idempotent
(upserts, atomic renames), so a step that runs twice leaves exactly what one run leaves.

plan      pick the labelled samples per version (stratified by length, seeded per version
          so the exact-label cache is reusable), reuse cached exact labels, cut the rest of
          the work into chunks (rows of ``ValuationChunk``).
embed     compute the sentence embeddings still missing in the pool and, with
          VALUATION_PROXY_LAYERS, the scored model's layer features (stored per sample+model).
target    g_T, the mean target-sample gradient, stored as artefact valuation/<job id>/...
exact     exact LinFiK of a chunk of labelled samples (scores + cache rows).
train     fit the proxy head on the labels' stored embeddings (and, with
          VALUATION_PROXY_TOKEN_FEATURES, the scored model's token features, then its
          stored layer features); fidelity on held-out labels.
proxy     predict a keyset range of the pool from the same inputs.
finalise  per-listing summary, timings, status; the buyer is told.

``features`` holds the scored model's side of the proxy inputs, shared by several stages;
``artefacts`` the names of a job's stored files.
"""

from valuation.services.pipeline.artefacts import (
    job_artefact_prefix,
    proxy_name,
    target_gradient_name,
)
from valuation.services.pipeline.embed import embed_chunk_compute
from valuation.services.pipeline.exact import exact_chunk_compute
from valuation.services.pipeline.features import job_token_source
from valuation.services.pipeline.finalise import job_finalise, job_stage_timings
from valuation.services.pipeline.plan import job_plan, labels_for_pool, token_strata, version_seed
from valuation.services.pipeline.proxy import proxy_chunk_compute
from valuation.services.pipeline.target import target_gradient_compute
from valuation.services.pipeline.train import proxy_train

__all__ = [
    "embed_chunk_compute",
    "exact_chunk_compute",
    "job_artefact_prefix",
    "job_finalise",
    "job_plan",
    "job_stage_timings",
    "job_token_source",
    "labels_for_pool",
    "proxy_chunk_compute",
    "proxy_name",
    "proxy_train",
    "target_gradient_compute",
    "target_gradient_name",
    "token_strata",
    "version_seed",
]
