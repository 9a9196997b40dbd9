"""Shared fixtures: service detection and a real Celery worker process.

Tests that need PostgreSQL or Redis skip on a bare machine, and fail instead when
REQUIRE_SERVICES=1 (as in CI), so a missing service can never pass silently.
"""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    if services_required():
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def redis_url() -> str:
    """The Redis to use: CELERY_BROKER_URL when it is Redis, else REDIS_URL or the local one."""
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if broker.startswith("redis://"):
        return broker
    return os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)


def tcp_reachable(url: str, timeout: float = 1.0) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=timeout):
            return True
    except OSError:
        return False


@pytest.fixture
def require_redis() -> str:
    url = redis_url()
    if not tcp_reachable(url):
        skip_or_fail(f"Redis is not reachable at {url}")
    return url


@pytest.fixture
def require_postgres(settings) -> None:
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        skip_or_fail("DATABASE_URL does not point to PostgreSQL")


def database_url_for_current_test_db() -> str:
    """A DATABASE_URL that lets a child process open the database this test session uses."""
    from django.db import connection

    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(params['NAME']).resolve()}"
    if connection.vendor == "postgresql":
        user = quote(params.get("USER") or "")
        password = f":{quote(params['PASSWORD'])}" if params.get("PASSWORD") else ""
        auth = f"{user}{password}@" if user else ""
        host = params.get("HOST") or "localhost"
        port = f":{params['PORT']}" if params.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{params['NAME']}"
    raise RuntimeError(f"no DATABASE_URL mapping for {connection.vendor}")


class WorkerProcess:
    """A real ``celery worker`` child process, stopped by the fixture that made it."""

    def __init__(self, *, broker_url: str, queues: str, extra_env: dict[str, str]):
        self.log_path = REPO_ROOT / "var" / f"test-worker-{uuid.uuid4().hex[:8]}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": database_url_for_current_test_db(),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "-Q", queues, "-n", self.name, "--pool", "prefork", "--concurrency", "1",
            "--without-gossip", "--without-mingle", "--loglevel", "INFO",
        ]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if b"ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker dies mid-task, as in a crash."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@pytest.fixture
def start_worker(transactional_db, settings) -> Iterator:
    """Factory fixture: ``start_worker(broker_url=..., queues=...)`` returns a ready worker."""
    from config.celery import app

    workers: list[WorkerProcess] = []
    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False

    def start(*, broker_url: str, queues: str = "default,gpu", extra_env: dict | None = None):
        worker = WorkerProcess(broker_url=broker_url, queues=queues, extra_env=extra_env or {})
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    app.conf.task_always_eager = was_eager
    for worker in workers:
        worker.stop()
