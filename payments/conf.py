"""Payment settings, each with a default so the app runs with nothing configured.

Optional settings read here (none is required): PLATFORM_FEE_BPS, QUOTE_TTL_MINUTES,
PAYMENTS_MAX_TRANSFER_ATTEMPTS, PAYMENTS_MAX_WEBHOOK_ATTEMPTS, STRIPE_MAX_NETWORK_RETRIES.
"""

from datetime import timedelta

from django.conf import settings

DEFAULT_FEE_BPS = 2000  # 20 % platform fee
DEFAULT_QUOTE_TTL_MINUTES = 30
DEFAULT_MAX_TRANSFER_ATTEMPTS = 5
DEFAULT_MAX_WEBHOOK_ATTEMPTS = 5


def platform_fee_bps() -> int:
    return int(getattr(settings, "PLATFORM_FEE_BPS", DEFAULT_FEE_BPS))


def platform_currency() -> str:
    return settings.PLATFORM_CURRENCY.lower()


def quote_ttl() -> timedelta:
    return timedelta(minutes=int(getattr(settings, "QUOTE_TTL_MINUTES", DEFAULT_QUOTE_TTL_MINUTES)))


def max_transfer_attempts() -> int:
    return int(getattr(settings, "PAYMENTS_MAX_TRANSFER_ATTEMPTS", DEFAULT_MAX_TRANSFER_ATTEMPTS))


def max_webhook_attempts() -> int:
    return int(getattr(settings, "PAYMENTS_MAX_WEBHOOK_ATTEMPTS", DEFAULT_MAX_WEBHOOK_ATTEMPTS))


def retry_delay_seconds(attempt: int) -> int:
    """Back-off before retry number ``attempt`` (1-based): 30 s, 2 min, 8 min, ... capped at 1 h."""
    return min(30 * 4 ** max(attempt - 1, 0), 3600)


def absolute_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path
