"""API conventions shared by every app: one JSON error shape."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context) -> Response | None:
    """Wrap DRF's errors as ``{"error": {"code", "message", "details"}}``."""
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
