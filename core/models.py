from django.db import models


class WorkerHeartbeat(models.Model):
    """The last time a Celery worker on a queue proved it can run a task and write to the DB.

    /healthz reads it to say whether background work is actually being processed, which a
    broker ping alone cannot tell.
    """

    queue = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    token = models.CharField(max_length=64, blank=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.queue}@{self.hostname} {self.seen_at:%Y-%m-%d %H:%M:%S}"
