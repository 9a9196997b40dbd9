"""Workers say they are alive: each Celery worker records a heartbeat per queue it consumes
when it is ready and then every ``WORKER_HEARTBEAT_SECONDS``, from a thread of its main
process (so a worker busy with a long valuation step still shows up). /healthz lists them.

Connected in config/celery.py; nothing here imports Django models until a worker is ready.
"""

from __future__ import annotations

import logging
import os
import threading

logger = logging.getLogger(__name__)


def heartbeat_interval() -> float:
    """Seconds between a worker's heartbeats (``WORKER_HEARTBEAT_SECONDS``)."""
    from django.conf import settings

    return float(settings.WORKER_HEARTBEAT_SECONDS)


def record_heartbeats(*, hostname: str, queues: list[str]) -> None:
    """One heartbeat per queue, then the thread's database connection is closed (a worker
    forks its pool children from this process, and they must not share it)."""
    from django.db import connection
    from django.utils import timezone

    from core.services import worker_heartbeat_record

    try:
        now = timezone.now()
        for queue in queues:
            worker_heartbeat_record(queue=queue, hostname=hostname, token="", seen_at=now)
    except Exception:  # a database hiccup must not stop the worker; the next beat retries
        logger.exception("could not record the heartbeat of %s", hostname)
    finally:
        connection.close()


def start_heartbeats(*, hostname: str, queues: list[str], interval: float) -> threading.Event:
    """Beat now and every ``interval`` seconds in a daemon thread; set the returned event
    to stop it."""
    stop = threading.Event()

    def run() -> None:
        while True:
            record_heartbeats(hostname=hostname, queues=queues)
            if stop.wait(interval):
                return

    threading.Thread(target=run, name="datamarket-heartbeat", daemon=True).start()
    return stop


def on_worker_ready(sender=None, **_kwargs) -> None:
    """``celery.signals.worker_ready``: start this worker's heartbeats."""
    if sender is None:
        return
    queues = sorted(sender.app.amqp.queues.consume_from or sender.app.amqp.queues)
    hostname = sender.hostname or f"worker@{os.uname().nodename}"
    start_heartbeats(hostname=hostname, queues=queues, interval=heartbeat_interval())
