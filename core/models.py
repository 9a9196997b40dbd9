from django.db import models


class WorkerHeartbeat(models.Model):
    """The last time a Celery worker consuming a queue proved it is alive and can write to the DB.

    /healthz reads it to say whether background work is actually being processed, which a
    broker ping alone cannot tell.
    """

    queue = models.CharField(max_length=64)
    hostname = models.CharField(max_length=255)
    token = models.CharField(max_length=64, blank=True)
    seen_at = models.DateTimeField()

    class Meta:
        # One row per worker and queue: two hosts consuming one queue are both listed.
        constraints = [
            models.UniqueConstraint(fields=["queue", "hostname"], name="core_heartbeat_per_worker")
        ]

    def __str__(self) -> str:
        return f"{self.queue}@{self.hostname} {self.seen_at:%Y-%m-%d %H:%M:%S}"
