"""Writes owned by the core app."""

from datetime import datetime

from core.models import WorkerHeartbeat


def worker_heartbeat_record(
    *, queue: str, hostname: str, token: str, seen_at: datetime
) -> WorkerHeartbeat:
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        queue=queue, hostname=hostname, defaults={"token": token, "seen_at": seen_at}
    )
    return heartbeat
