"""The one error model of the services: every refusal is a ``ServiceError``.

A service raises one of the four kinds below (or an app's subclass of one) with a message fit
to show the person who asked, and a stable machine-readable ``code``. The API answers them in
one shape (``core.api.exception_handler``) and pages in one way (``core.middleware``):

========== ====== ============================================================
kind       status meaning
========== ====== ============================================================
NotFound   404    no such thing, or one the caller may not know exists
NotAllowed 403    the caller may not do this
Invalid    400    the input is wrong; ``field`` names the input when known
Conflict   409    the thing is not in a state that allows this (yet, or any more)
========== ====== ============================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError

NON_FIELD = "non_field_errors"


class ServiceError(Exception):
    """A refusal by a service. ``str(error)`` is the message; ``code`` is stable.

    ``field`` names the input at fault; ``field_messages`` holds every message by input
    (several fields can be wrong at once); ``details`` is extra machine-readable context
    (e.g. an upload's validation report), passed through to API clients.
    """

    code = "error"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        field_messages: Mapping[str, Iterable[str]] | None = None,
        details: Mapping[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = str(message)
        if code is not None:
            self.code = code
        self.field_messages = {name: list(texts) for name, texts in (field_messages or {}).items()}
        if field is not None and not self.field_messages:
            self.field_messages = {field: [self.message]}
        self.field = field if field is not None else next(iter(self.field_messages), None)
        self.details = dict(details or {})

    @classmethod
    def for_fields(cls, errors: Mapping[str, str | Iterable[str]], **kwargs: Any) -> ServiceError:
        """One error for several inputs at once: ``{"name": "...", "slug": [...]}``."""
        by_field = {
            name: [texts] if isinstance(texts, str) else list(texts)
            for name, texts in errors.items()
        }
        first = next(text for texts in by_field.values() for text in texts)
        return cls(first, field_messages=by_field, **kwargs)

    @property
    def messages(self) -> list[str]:
        """Every message, the whole-request one first when there is no field."""
        if not self.field_messages:
            return [self.message]
        return [text for texts in self.field_messages.values() for text in texts]

    def api_details(self) -> dict[str, Any]:
        """``details`` of the API's error shape: messages by input, then the extra context."""
        whole = {NON_FIELD: [self.message]} if self.status == 400 else {}
        by_field = self.field_messages or whole
        return {**by_field, **self.details}


class NotFound(ServiceError):
    code = "not_found"
    status = 404


class NotAllowed(ServiceError):
    code = "permission_denied"
    status = 403


class Invalid(ServiceError):
    code = "invalid"
    status = 400

    @classmethod
    def from_validation_error(cls, exc: ValidationError) -> Invalid:
        """A model's own checks (``full_clean``) in the services' terms."""
        if hasattr(exc, "error_dict"):
            return cls.for_fields(exc.message_dict)
        return cls(" ".join(exc.messages))


class Conflict(ServiceError):
    code = "conflict"
    status = 409
