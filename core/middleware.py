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

from core.errors import ServiceError


class ServiceErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ServiceError):
            return None
        from core import views

        if exception.status == 404:
            return views.page_not_found(request, exception)
        if exception.status == 403:
            return views.permission_denied(request, exception)
        return views.refused(request, exception)
