"""Errors the valuation services raise, each with a message fit to show a buyer.

Each is a kind of ``core.errors.ServiceError``, answered by the API and the pages like any
other service's refusal.
"""

from core.errors import Conflict, Invalid, NotAllowed, ServiceError


class ValuationError(ServiceError):
    """Base class: ``str(error)`` is a readable sentence."""


class ValuationRequestInvalid(ValuationError, Invalid, ValueError):
    """The request cannot be valued as asked (bad pool, model, method or fraction)."""


class ValuationNotAllowed(ValuationError, NotAllowed, PermissionError):
    """The user may not act on this task or job."""


class ValuationStateError(ValuationError, Conflict):
    """The job is not in a state that allows the action (e.g. cancel a finished job)."""
