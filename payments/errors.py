"""Errors the payment services raise. Each message says what was wrong and where.

Each is a kind of ``core.errors.ServiceError`` (Invalid, NotAllowed, NotFound, Conflict), so
the API and the pages answer it like any other service's refusal; the codes are stable.
"""

from core.errors import Conflict, Invalid, NotAllowed, NotFound, ServiceError


class PaymentsError(ServiceError):
    """Base class of every refusal by a payments service. ``code`` is machine-readable."""

    code = "payments_error"


class LedgerError(PaymentsError, Invalid):
    code = "ledger_invalid"


class UnbalancedTransactionError(LedgerError):
    code = "ledger_unbalanced"


class QuoteError(PaymentsError, Invalid):
    code = "quote_invalid"


class QuoteExpiredError(QuoteError, Conflict):
    code = "quote_expired"
    status = Conflict.status


class QuoteNotOpenError(QuoteError, Conflict):
    code = "quote_not_open"
    status = Conflict.status


class NotAllowedError(PaymentsError, NotAllowed):
    code = "not_allowed"


class NotYoursError(NotAllowedError):
    """The quote, order or valuation does not exist or is someone else's: answered as if it
    did not exist, so that nothing about other users' records shows."""

    status = NotFound.status


class OrderStateError(PaymentsError, Conflict):
    code = "order_state"


class PaymentMismatchError(PaymentsError, Invalid):
    """The payment the gateway reports does not match the order (amount, currency, order)."""

    code = "payment_mismatch"


class GatewayNotConfiguredError(PaymentsError, Conflict):
    code = "gateway_not_configured"
    status = 503  # the platform, not the caller, lacks the setting


class WebhookPayloadError(PaymentsError, Invalid):
    code = "webhook_payload"


class PaymentProviderError(PaymentsError):
    """The payment provider could not be reached or refused a call (a ``GatewayError``)."""

    code = "gateway_error"
    status = 502
