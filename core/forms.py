"""Form helpers shared by every app."""

from __future__ import annotations

from core.errors import ServiceError


class ServiceErrorFormMixin:
    """``form.add_service_error(error)``: a service's refusal shown on the form, each message
    on the input it names (``SERVICE_FIELDS`` maps a service's argument to a form field),
    others above the form."""

    SERVICE_FIELDS: dict[str, str] = {}

    def add_service_error(self, error: ServiceError, *, field: str | None = None) -> None:
        """``field``: where messages naming no input of this form go (default: the top)."""
        fallback = field if field in self.fields else None
        if not error.field_messages:
            self.add_error(fallback, error.message)
            return
        for name, texts in error.field_messages.items():
            target = self.SERVICE_FIELDS.get(name, name)
            self.add_error(target if target in self.fields else fallback, texts)
