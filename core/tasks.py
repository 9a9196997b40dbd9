"""Background tasks owned by the core app."""

from celery import shared_task
from django.utils import timezone

from core.services import worker_heartbeat_record


@shared_task(name="core.tasks.heartbeat", bind=True)
def heartbeat(self, *, queue: str = "default", token: str = "") -> str:
    """Record that a worker consuming ``queue`` ran a task; returns the worker's hostname."""
    hostname = self.request.hostname or "unknown"
    worker_heartbeat_record(queue=queue, hostname=hostname, token=token, seen_at=timezone.now())
    return hostname
