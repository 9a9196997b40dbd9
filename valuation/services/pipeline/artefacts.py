"""Names of a job's artefacts (core.artefacts: local files or object storage)."""

from __future__ import annotations


def job_artefact_prefix(*, job_id: int) -> str:
    return f"valuation/{job_id}"


def target_gradient_name(*, job_id: int) -> str:
    return f"{job_artefact_prefix(job_id=job_id)}/target_gradient.safetensors"


def proxy_name(*, job_id: int) -> str:
    return f"{job_artefact_prefix(job_id=job_id)}/proxy.safetensors"
