"""What a first visit meets outside the product pages: the favicon, the 404 page with the
site's navigation (also under `make run`), one log line per refused request, and workers
listed by /healthz."""

from __future__ import annotations

import importlib.util
import io
import logging
import re
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.services import user_create
from core.models import WorkerHeartbeat

REPO_ROOT = Path(__file__).resolve().parents[2]
ICON = REPO_ROOT / "static" / "img" / "favicon.ico"


@pytest.mark.django_db
def test_favicon_ico_is_the_vendored_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    body = b"".join(response.streaming_content)
    assert body == ICON.read_bytes()
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert "max-age=86400" in response["Cache-Control"]
    page = client.get("/").content.decode()
    assert '<link rel="icon" href="/favicon.ico"' in page


@pytest.mark.django_db
@pytest.mark.parametrize("username", [None, "nina"])
def test_404_page_has_the_site_navigation(client, settings, username):
    settings.DEBUG = False
    if username:
        client.force_login(
            user_create(
                username=username, email="n@example.com", password="pw-long-enough-1", is_buyer=True
            )
        )

    response = client.get("/datasets/")

    assert response.status_code == 404
    assert [t.name for t in response.templates][:2] == ["404.html", "base.html"]
    html = response.content.decode()
    assert "We couldn't find that page" in html and "<code>/datasets/</code>" in html
    assert re.search(r'<a class="nav-link" href="/data/"[^>]*>Browse data</a>', html)  # header
    assert '<a class="btn btn-primary" href="/data/">Browse the datasets</a>' in html
    assert "URLconf" not in html  # not Django's debug page listing the URL patterns
    if username:
        assert '<a href="/valuation/jobs/">Valuations</a>' in html


def test_make_run_serves_the_product_404_and_static_files(settings, tmp_path):
    """`make run` starts the server with DEBUG off (unless DEBUG is set) after
    collectstatic, so WhiteNoise serves the static files and 404s are the product's."""
    script = REPO_ROOT / "scripts" / "run_local.py"
    spec = importlib.util.spec_from_file_location("run_local_404", script)
    run_local = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_local)
    assert run_local.server_environment({"PATH": "/bin"}) == {"PATH": "/bin", "DEBUG": "false"}
    assert run_local.server_environment({"DEBUG": "true"})["DEBUG"] == "true"

    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", "--noinput", "--verbosity", "0")
    response = Client().get("/static/css/app.css")  # a new client: WhiteNoise rescans
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == (REPO_ROOT / "static/css/app.css").read_bytes()


@pytest.fixture
def server_log():
    """What the root console handler (the server log) writes during the test."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(type(f).__name__ == "ClientErrorsWithoutTraceback" for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


@pytest.mark.django_db
def test_a_403_writes_one_line_and_no_traceback(client, server_log, settings):
    settings.DEBUG = True  # as under runserver with DEBUG on: Django's handler used to repeat it
    client.force_login(
        user_create(
            username="bob", email="b@example.com", password="pw-long-enough-1", is_buyer=True
        )
    )

    response = client.get(reverse("marketplace:provider_datasets"))

    assert response.status_code == 403
    # Only Django's request log is about the refusal (django-axes logs the sign-in itself).
    lines = [line for line in server_log.getvalue().splitlines() if "django.request" in line]
    assert len(lines) == 1 and "Forbidden (Permission denied): /provider/datasets/" in lines[0]
    assert "Traceback" not in server_log.getvalue()


@pytest.mark.django_db
def test_a_500_keeps_its_traceback(server_log):
    from django.test import RequestFactory
    from django.utils.log import log_response

    try:
        raise ValueError("boom")
    except ValueError as error:
        request = RequestFactory().get("/x/")
        from django.http import HttpResponseServerError

        log_response(
            "Internal Server Error: %s",
            request.path,
            response=HttpResponseServerError(),
            request=request,
            exception=error,
        )
    assert "Traceback" in server_log.getvalue() and "ValueError: boom" in server_log.getvalue()


def test_healthz_lists_a_running_worker_that_ran_no_task(start_worker, admin_client):
    worker = start_worker(
        broker_url="filesystem://",
        queues="default,gpu",
        extra_env={"WORKER_HEARTBEAT_SECONDS": "1"},
    )
    worker.wait_ready()
    deadline = time.monotonic() + 30
    while WorkerHeartbeat.objects.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    first = {beat.queue: beat.seen_at for beat in WorkerHeartbeat.objects.all()}
    assert set(first) == {"default", "gpu"}, worker.log()

    time.sleep(2.5)  # it keeps beating while idle
    body = admin_client.get("/healthz").json()

    for queue in ("default", "gpu"):
        [entry] = body["workers"][queue]
        assert entry["hostname"].startswith("test-")
        assert entry["alive"] is True
        assert entry["age_seconds"] < 3
        assert WorkerHeartbeat.objects.get(queue=queue).seen_at > first[queue]


@pytest.mark.django_db
def test_healthz_marks_a_silent_worker_not_alive(admin_client, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.WORKER_HEARTBEAT_SECONDS = 10
    WorkerHeartbeat.objects.create(
        queue="gpu", hostname="gpu0@host", seen_at=timezone.now() - timedelta(seconds=31)
    )

    [entry] = admin_client.get("/healthz").json()["workers"]["gpu"]

    assert (entry["hostname"], entry["alive"]) == ("gpu0@host", False)
    assert 31 <= entry["age_seconds"] < 40


@pytest.mark.django_db
def test_healthz_lists_every_worker_of_a_queue(admin_client, settings):
    """Two hosts consuming one queue are two rows, each with its own age."""
    from datetime import timedelta

    from django.utils import timezone

    from core.services import worker_heartbeat_record

    settings.WORKER_HEARTBEAT_SECONDS = 10
    now = timezone.now()
    worker_heartbeat_record(queue="gpu", hostname="gpu0@a", token="", seen_at=now)
    worker_heartbeat_record(queue="gpu", hostname="gpu1@b", token="", seen_at=now)
    worker_heartbeat_record(
        queue="gpu", hostname="gpu1@b", token="", seen_at=now - timedelta(seconds=60)
    )

    workers = admin_client.get("/healthz").json()["workers"]["gpu"]

    assert [(w["hostname"], w["alive"]) for w in workers] == [("gpu0@a", True), ("gpu1@b", False)]
    assert WorkerHeartbeat.objects.filter(queue="gpu").count() == 2
