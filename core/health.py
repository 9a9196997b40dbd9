"""GET /healthz: database, broker and storage status as JSON, 200 when all answer, 503
otherwise.

Anonymous callers and non-staff users get only ``{"status": "ok" | "unavailable"}``; staff
get each check's details as well.
"""

import time
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app as celery_app
from core.models import WorkerHeartbeat
from core.worker_health import heartbeat_interval


def check_database() -> dict:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"; report it, don't raise
        return {"ok": False, "vendor": connection.vendor, "error": str(exc)[:300]}
    return {"ok": True, "vendor": connection.vendor, "ms": _ms_since(started)}


def check_broker() -> dict:
    started = time.monotonic()
    if settings.CELERY_EMBEDDED_BROKER:
        return _check_filesystem_broker(started)
    try:
        with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            transport = conn.transport_cls
    except Exception as exc:
        return {"ok": False, "transport": _scheme(), "error": str(exc)[:300]}
    return {"ok": True, "transport": str(transport), "ms": _ms_since(started)}


def check_storage() -> dict:
    """Uploads and artefacts can be stored: the S3 bucket answers (HEAD bucket), or the
    STORAGE_ROOT folder is writable."""
    from core.artefacts import artefact_storage

    started = time.monotonic()
    storage = artefact_storage()
    bucket = getattr(storage, "bucket_name", None)
    backend = "s3" if bucket else "filesystem"
    try:
        if bucket:
            storage.connection.meta.client.head_bucket(Bucket=bucket)
        else:
            folder = Path(settings.STORAGE_ROOT)
            folder.mkdir(parents=True, exist_ok=True)
            if not _is_writable(folder):
                raise OSError(f"storage folder {folder} is not writable")
    except Exception as exc:  # unreachable endpoint, missing bucket, refused credentials
        return {"ok": False, "backend": backend, "error": str(exc)[:300]}
    return {"ok": True, "backend": backend, "ms": _ms_since(started)}


def _check_filesystem_broker(started: float) -> dict:
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"])
    ok = folder.is_dir() and _is_writable(folder)
    result = {"ok": ok, "transport": "filesystem", "ms": _ms_since(started)}
    if not ok:
        result["error"] = f"broker folder {folder} is missing or not writable"
    return result


def worker_status() -> dict[str, list[dict]]:
    """The workers consuming each queue, by hostname; informational, it does not change the
    status code. A worker beats every WORKER_HEARTBEAT_SECONDS (core.worker_health): ``alive``
    when its last beat is under three intervals old."""
    now = timezone.now()
    window = 3 * heartbeat_interval()
    status: dict[str, list[dict]] = {}
    for beat in WorkerHeartbeat.objects.order_by("queue", "hostname"):
        age = max(0.0, (now - beat.seen_at).total_seconds())
        status.setdefault(beat.queue, []).append(
            {
                "hostname": beat.hostname,
                "seen_at": beat.seen_at.isoformat(),
                "age_seconds": round(age, 1),
                "alive": age <= window,
            }
        )
    return status


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Anyone gets ``{"status": ...}`` and the status code; staff also get the checks'
    details (database vendor, broker transport, errors, workers), which tell an attacker
    what runs behind the site."""
    database = check_database()
    broker = check_broker()
    storage = check_storage()
    healthy = database["ok"] and broker["ok"] and storage["ok"]
    body: dict = {"status": "ok" if healthy else "unavailable"}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        body.update(database=database, broker=broker, storage=storage)
        if database["ok"]:
            body["workers"] = worker_status()
    return JsonResponse(body, status=200 if healthy else 503)


def _is_writable(folder: Path) -> bool:
    probe = folder / ".healthz-probe"
    try:
        probe.write_text("ok")
        probe.unlink()
    except OSError:
        return False
    return True


def _scheme() -> str:
    return settings.CELERY_BROKER_URL.split("://", 1)[0]


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 2)
