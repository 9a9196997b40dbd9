"""Pages answer a service's refusal in one way (``core.errors``).

A view turns the refusals it expects into form errors or messages itself
(``core.forms.ServiceErrorFormMixin``); whatever reaches this middleware is answered by
kind: NotFound with the 404 page, NotAllowed with the 403 page and its message, Invalid and
Conflict with the refusal page (400 or 409) and the message. Bad input is never a 500.
API views answer in JSON before this runs (``core.api.exception_handler``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import get_resolver, get_urlconf

from core.errors import ServiceError


class ServiceErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ServiceError):
            return None
        # The pages are the project's error handlers (handler404, handler403, handler400 in
        # the root urlconf), so this lowest layer names no view of a higher app.
        status = exception.status if exception.status in (403, 404) else 400
        handler = get_resolver(get_urlconf()).resolve_error_handler(status)
        return handler(request, exception)
