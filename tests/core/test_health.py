import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from core import health


@pytest.fixture
def staff_client(client, db):
    """The checks' details are for staff; anyone else gets the status alone."""
    user = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_healthz_tells_anonymous_callers_the_status_only(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert b"sqlite" not in response.content and b"filesystem" not in response.content


@pytest.mark.django_db
def test_healthz_reports_database_and_broker(staff_client):
    response = staff_client.get(reverse("healthz"))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert (body["storage"]["ok"], body["storage"]["backend"]) == (True, "filesystem")
    assert body["workers"] == {}


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_down(staff_client, client, settings):
    settings.CELERY_EMBEDDED_BROKER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = staff_client.get(reverse("healthz"))

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["broker"]["ok"] is False
    assert body["database"]["ok"] is True


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_is_down(staff_client, monkeypatch):
    monkeypatch.setattr(health, "check_database", lambda: {"ok": False, "error": "refused"})

    response = staff_client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["database"] == {"ok": False, "error": "refused"}
    assert "workers" not in response.json()
    staff_client.logout()
    anonymous = staff_client.get(reverse("healthz"))
    assert (anonymous.status_code, anonymous.json()) == (503, {"status": "unavailable"})


def test_healthz_rejects_post(client):
    assert client.post(reverse("healthz")).status_code == 405


@pytest.mark.django_db
def test_healthz_checks_the_s3_bucket(staff_client, s3_storage, s3_server):
    response = staff_client.get(reverse("healthz"))
    assert response.status_code == 200
    assert (response.json()["storage"]["ok"], response.json()["storage"]["backend"]) == (True, "s3")

    s3_server.client().delete_bucket(Bucket=s3_storage["STORAGE_S3_BUCKET"])
    response = staff_client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["storage"]["ok"] is False
    assert "404" in body["storage"]["error"]  # HeadBucket: Not Found
