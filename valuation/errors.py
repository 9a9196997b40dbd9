"""Errors the valuation services raise, each with a message fit to show a buyer."""


class ValuationError(Exception):
    """Base class: ``str(error)`` is a readable sentence."""


class ValuationRequestInvalid(ValuationError, ValueError):
    """The request cannot be valued as asked (bad pool, model, method or fraction)."""


class ValuationNotAllowed(ValuationError, PermissionError):
    """The user may not act on this task or job."""


class ValuationStateError(ValuationError):
    """The job is not in a state that allows the action (e.g. cancel a finished job)."""
