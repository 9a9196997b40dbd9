"""Background work runs in a real Celery worker process, on Redis and on the embedded broker."""

import time
import uuid

import pytest
from kombu import Connection

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

    with Connection(require_redis) as connection:
        heartbeat.apply_async(kwargs={"queue": "default", "token": token}, connection=connection)

    beat = wait_for_heartbeat(token, worker)
    assert beat.queue == "default"
    assert beat.hostname.startswith("test-")
    assert WorkerHeartbeat.objects.filter(queue="default").count() == 1


def test_worker_process_on_embedded_broker_runs_task(start_worker, tmp_path):
    worker = start_worker(
        broker_url="filesystem://", queues="gpu",
        extra_env={"CELERY_BROKER_FOLDER": str(tmp_path)},
    )
    token = uuid.uuid4().hex
    # The worker's settings use <CELERY_BROKER_FOLDER>/out as the queue; send to it.
    out = tmp_path / "out"
    options = {"data_folder_in": str(out), "data_folder_out": str(out)}

    with Connection("filesystem://", transport_options=options) as connection:
        heartbeat.apply_async(
            kwargs={"queue": "gpu", "token": token}, queue="gpu", connection=connection
        )

    beat = wait_for_heartbeat(token, worker)
    assert beat.queue == "gpu"
