"""The Celery application. Workers: ``celery -A config worker -Q default`` and ``-Q gpu``."""

import os

from celery import Celery
from celery.signals import worker_ready

from config.embedded_broker import register as register_embedded_broker

register_embedded_broker()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("datamarket")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Each worker records a heartbeat per queue it consumes (listed by /healthz).
from core.worker_health import on_worker_ready  # noqa: E402

worker_ready.connect(on_worker_ready, weak=False)
