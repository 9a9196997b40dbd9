"""Background work runs in a real Celery worker process, on Redis and on the embedded broker."""

import time
import uuid

import pytest

from core.models import WorkerHeartbeat
from core.tasks import heartbeat


def wait_for_heartbeat(token: str, worker, timeout: float = 60.0) -> WorkerHeartbeat:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        beat = WorkerHeartbeat.objects.filter(token=token).first()
        if beat is not None:
            return beat
        time.sleep(0.2)
    raise AssertionError(f"no heartbeat with token {token} after {timeout}s:\n{worker.log()}")


@pytest.mark.services
def test_worker_process_on_redis_runs_task_and_writes_database(require_redis, start_worker):
    worker = start_worker(broker_url=require_redis, queues="default")
    token = uuid.uuid4().hex

    heartbeat.delay(queue="default", token=token)

    beat = wait_for_heartbeat(token, worker)
    assert beat.queue == "default"
    assert beat.hostname.startswith("test-")
    assert WorkerHeartbeat.objects.filter(queue="default").count() == 1


def test_worker_process_on_embedded_broker_runs_task(start_worker):
    worker = start_worker(broker_url="filesystem://", queues="gpu")
    token = uuid.uuid4().hex

    heartbeat.apply_async(kwargs={"queue": "gpu", "token": token}, queue="gpu")

    beat = wait_for_heartbeat(token, worker)
    assert beat.queue == "gpu"
