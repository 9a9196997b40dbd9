"""benchmarks/bench_web_load.py at a tiny scale for a few seconds: the data builds, gunicorn
serves it, Locust hits every endpoint, and no request fails. No timing is asserted.
Runs on a database of its own beside the test database (PostgreSQL only); skips on SQLite,
fails under REQUIRE_SERVICES=1."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import urlparse

import psycopg2
import pytest

from tests.conftest import REPO_ROOT, database_url_for_current_test_db

pytestmark = [pytest.mark.services, pytest.mark.django_db]

ENDPOINTS = {
    "catalogue",
    "search",
    "filters",
    "listing page",
    "job results p1",
    "job results deep",
    "scores API",
    "quote",
    "payout report",
}


@pytest.fixture
def bench_database(require_postgres) -> str:
    """A scratch database beside the test database, dropped afterwards."""
    test_url = urlparse(database_url_for_current_test_db())
    name = f"{test_url.path.lstrip('/')}_webload"
    server = test_url._replace(path="/postgres").geturl()

    def admin(sql: str) -> None:
        connection = psycopg2.connect(server)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql)
        connection.close()

    admin(f'DROP DATABASE IF EXISTS "{name}"')
    admin(f'CREATE DATABASE "{name}"')
    yield test_url._replace(path=f"/{name}").geturl()
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_web_load_benchmark_hits_every_endpoint_without_errors(bench_database, tmp_path):
    command = [
        sys.executable,
        str(REPO_ROOT / "benchmarks" / "bench_web_load.py"),
        "--postgres",
        bench_database,
        "--scale",
        "0.001",
        "--workers",
        "1",
        "--rate",
        "12",
        "--seconds",
        "6",
        "--max-steps",
        "0",
        "--dir",
        str(tmp_path),
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads((tmp_path / "results.json").read_text())["runs"][0]["rows"]
    assert {row["endpoint"] for row in rows} == ENDPOINTS
    assert all(row["requests"] > 0 for row in rows), rows
    assert sum(row["errors"] for row in rows) == 0, rows
