"""Errors the payment services raise. Each message says what was wrong and where."""


class PaymentsError(Exception):
    """Base class of every refusal by a payments service. ``code`` is machine-readable."""

    code = "payments_error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class LedgerError(PaymentsError):
    code = "ledger_invalid"


class UnbalancedTransactionError(LedgerError):
    code = "ledger_unbalanced"


class QuoteError(PaymentsError):
    code = "quote_invalid"


class QuoteExpiredError(QuoteError):
    code = "quote_expired"


class QuoteNotOpenError(QuoteError):
    code = "quote_not_open"


class NotAllowedError(PaymentsError):
    code = "not_allowed"


class OrderStateError(PaymentsError):
    code = "order_state"


class PaymentMismatchError(PaymentsError):
    """The payment the gateway reports does not match the order (amount, currency, order)."""

    code = "payment_mismatch"


class GatewayNotConfiguredError(PaymentsError):
    code = "gateway_not_configured"


class WebhookPayloadError(PaymentsError):
    code = "webhook_payload"
