"""Celery entry points for large uploads; thin wrappers around ``marketplace.services``."""

from celery import shared_task

from marketplace.models import DatasetVersion
from marketplace.services import versions


@shared_task(name="marketplace.tasks.version_process")
def version_process(*, version_id: int) -> str:
    """Validate a staged version (and ingest it when every row is valid)."""
    version = DatasetVersion.objects.filter(pk=version_id).first()
    if version is None:
        return "missing"
    return versions.version_process(version=version).status


@shared_task(name="marketplace.tasks.version_ingest")
def version_ingest(*, version_id: int) -> str:
    """Ingest a version the provider accepted (valid rows only)."""
    version = DatasetVersion.objects.filter(pk=version_id).first()
    if version is None:
        return "missing"
    return versions.version_ingest(version=version).status
