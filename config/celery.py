"""The Celery application. Workers: ``celery -A config worker -Q default`` and ``-Q gpu``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("datamarket")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
