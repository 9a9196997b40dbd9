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


def pytest_configure(config) -> None:
    """TORCH_NUM_THREADS=N runs the suite with N intra-op threads, to check that no test
    depends on float32 results being bit-identical across thread counts."""
    threads = os.environ.get("TORCH_NUM_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))


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


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Each test starts with an empty cache (the catalogue reuses what it cached)."""
    from django.core.cache import cache

    cache.clear()
    yield


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

    def __init__(
        self, *, broker_url: str, queues: str, extra_env: dict[str, str], cwd: Path | None = None
    ):
        self.log_path = REPO_ROOT / "var" / f"test-worker-{uuid.uuid4().hex[:8]}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": database_url_for_current_test_db(),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "PYTHONUNBUFFERED": "1",
            # The project's packages from any working folder (a simulated second host).
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
            ),
            **extra_env,
        }
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queues,
            "-n",
            self.name,
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            cwd=cwd or REPO_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
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


def filesystem_transport_options(folder: Path) -> dict[str, str | bool]:
    """The embedded broker's options for a broker folder, as config/settings/base.py builds them."""
    for name in ("out", "processed", "control"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "out"),
        "data_folder_out": str(folder / "out"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
        "control_folder": str(folder / "control"),
    }


def publish_to(app, *, broker_url: str, transport_options: dict) -> None:
    """Point this process's Celery app at a broker and drop every cached connection.

    kombu keeps producer pools in a process-global registry; a pool closed without a reset
    there fails later with "Acquire on closed pool", so reset both levels.
    """
    from kombu import pools

    # Celery reads CELERY_BROKER_URL from the environment before its own configuration.
    os.environ["CELERY_BROKER_URL"] = broker_url
    app.conf.broker_url = broker_url
    app.conf.broker_transport_options = transport_options
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    pools.reset()


@pytest.fixture
def start_worker(transactional_db, tmp_path_factory) -> Iterator:
    """Factory fixture: ``start_worker(broker_url=..., queues=...)`` returns a ready worker.

    While it runs, this test process publishes to the same broker (for the embedded broker:
    the same folder), so services that enqueue with ``.delay()`` reach the worker.
    """
    from config.celery import app

    workers: list[WorkerProcess] = []
    saved_env = os.environ.get("CELERY_BROKER_URL")
    saved = (app.conf.task_always_eager, app.conf.broker_url, app.conf.broker_transport_options)
    app.conf.task_always_eager = False

    def start(
        *,
        broker_url: str,
        queues: str = "default,gpu",
        extra_env: dict | None = None,
        cwd: Path | None = None,
    ):
        extra_env = dict(extra_env or {})
        options: dict = {}
        if broker_url.startswith("filesystem://"):
            folder = extra_env.setdefault(
                "CELERY_BROKER_FOLDER", str(tmp_path_factory.mktemp("broker"))
            )
            options = filesystem_transport_options(Path(folder))
        publish_to(app, broker_url=broker_url, transport_options=options)
        worker = WorkerProcess(broker_url=broker_url, queues=queues, extra_env=extra_env, cwd=cwd)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()
    app.conf.task_always_eager = saved[0]
    publish_to(app, broker_url=saved[1], transport_options=saved[2])
    if saved_env is None:
        os.environ.pop("CELERY_BROKER_URL", None)
    else:
        os.environ["CELERY_BROKER_URL"] = saved_env


# ---- object storage: a real S3-protocol server on loopback ---------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class S3Server:
    """moto's standalone server (``moto_server``) as a child process on a free loopback port:
    a real S3 endpoint over HTTP, reachable by worker processes too."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.log_path = REPO_ROOT / "var" / f"test-s3-{uuid.uuid4().hex[:8]}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not tcp_reachable(self.endpoint_url, timeout=0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not start:\n{self.log_path.read_text()}")
            time.sleep(0.1)

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            self.process.wait(timeout=10)
        self._log.close()
        self.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3_storage(s3_server, settings, monkeypatch, tmp_path) -> dict[str, str]:
    """This test's uploads and artefacts in a fresh bucket of the S3 server (as with
    STORAGE_BACKEND=s3); returns the same configuration as environment variables, for
    worker processes."""
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=bucket)
    env = {
        "STORAGE_BACKEND": "s3",
        "STORAGE_S3_BUCKET": bucket,
        "STORAGE_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "STORAGE_S3_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    options = {
        "bucket_name": bucket,
        "endpoint_url": s3_server.endpoint_url,
        "region_name": "us-east-1",
        "default_acl": None,
        "max_memory_size": 8 * 1024 * 1024,
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**options, "file_overwrite": False},
        },
        "artefacts": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**options, "file_overwrite": True},
        },
    }
    settings.ARTEFACT_CACHE_DIR = tmp_path / "artefact-cache"
    return env
