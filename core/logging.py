"""Logging filters for the server log (``LOGGING`` in config/settings/base.py)."""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """A refused request (403, 404, 405: ``django.request`` and ``django.security`` warnings
    with a status below 500) is logged as its one line, without the traceback of the
    exception that produced it; server errors keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if (
            record.name.startswith(("django.request", "django.security"))
            and (status is None or status < 500)
            and record.levelno < logging.ERROR
        ):
            record.exc_info = None
            record.exc_text = None
        return True
