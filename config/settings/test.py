"""Test profile: the base settings, with fast hashing and in-memory email."""

from config.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"anon": "10000/min", "user": "10000/min"}  # noqa: F405
# Unit tests run enqueued work inline; tests about background work start a real worker
# process and switch this off for themselves (see tests/conftest.py).
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# Unit tests ingest without loading the sentence encoder; valuation tests embed explicitly.
EMBED_AT_INGEST = False
