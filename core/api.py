"""API conventions shared by every app: one JSON error shape.

Every error answers ``{"error": {"code", "message", "details", "field"?}}``: ``code`` is
stable and machine-readable, ``message`` a sentence for a person, ``details`` the messages by
input (``non_field_errors`` for the request as a whole) plus any extra context, and ``field``
the input at fault when one is. Services' errors (``core.errors``) map by kind: NotFound 404,
NotAllowed 403, Invalid 400, Conflict 409.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import NON_FIELD, ServiceError


def error_body(exc: ServiceError) -> dict:
    body = {"code": exc.code, "message": exc.message, "details": exc.api_details()}
    if exc.field:
        body["field"] = exc.field
    return {"error": body}


def service_error_json(exc: ServiceError) -> JsonResponse:
    """The API's error shape from a plain Django view (e.g. a webhook endpoint)."""
    return JsonResponse(error_body(exc), status=exc.status)


def exception_handler(exc, context) -> Response | None:
    """The one mapping of errors to the API's JSON error shape (see the module's docstring)."""
    if isinstance(exc, ServiceError):
        return Response(error_body(exc), status=exc.status)
    if isinstance(exc, DjangoValidationError):  # a model's or validator's own check
        detail = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD: exc.messages}
        exc = exceptions.ValidationError(detail)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    details = response.data
    code = getattr(exc, "default_code", "error")
    if isinstance(details, dict) and "detail" in details and len(details) == 1:
        message = str(details["detail"])
        code = getattr(details["detail"], "code", code)
        details = {}
    else:
        message = "Invalid input." if response.status_code == 400 else str(exc)
    response.data = {"error": {"code": code, "message": message, "details": details}}
    return response


_PAGES: dict[type, type] = {}


def paginated(serializer_class: type) -> type:
    """The schema of a page of ``serializer_class`` as PageNumberPagination answers it:
    ``{"count", "next", "previous", "results": [...]}`` (views that paginate by hand)."""
    from rest_framework import serializers

    if serializer_class not in _PAGES:
        name = serializer_class.__name__.removesuffix("Serializer")
        _PAGES[serializer_class] = type(
            f"Paginated{name}ListSerializer",
            (serializers.Serializer,),
            {
                "count": serializers.IntegerField(),
                "next": serializers.CharField(allow_null=True),
                "previous": serializers.CharField(allow_null=True),
                "results": serializer_class(many=True),
            },
        )
    return _PAGES[serializer_class]
