"""Payment settings, each with a default so the app runs with nothing configured.

Optional settings read here (none is required): PLATFORM_FEE_BPS, PRICING_VALUE_RATE,
QUOTE_TTL_MINUTES, PAYMENTS_DOWNLOAD_MAX_AGE_SECONDS, PAYMENTS_MAX_TRANSFER_ATTEMPTS,
PAYMENTS_MAX_WEBHOOK_ATTEMPTS, STRIPE_MAX_NETWORK_RETRIES (read by payments.gateways).
"""

from datetime import timedelta
from fractions import Fraction

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_FEE_BPS = 1500  # 15 % platform fee
DEFAULT_VALUE_RATE = "0"  # minor units per 1.0 of LinFiK value; 0 prices at the floors only
DEFAULT_QUOTE_TTL_MINUTES = 30
DEFAULT_MAX_TRANSFER_ATTEMPTS = 5
DEFAULT_MAX_WEBHOOK_ATTEMPTS = 5
DEFAULT_DOWNLOAD_MAX_AGE_SECONDS = 3600  # a signed download link is good for 1 hour


def platform_fee_bps() -> int:
    return int(getattr(settings, "PLATFORM_FEE_BPS", DEFAULT_FEE_BPS))


def value_rate() -> Fraction:
    """PRICING_VALUE_RATE as an exact fraction ("40", "7/2"); floats are not accepted."""
    raw = str(getattr(settings, "PRICING_VALUE_RATE", DEFAULT_VALUE_RATE))
    try:
        rate = Fraction(raw)
    except (ValueError, ZeroDivisionError) as exc:
        raise ImproperlyConfigured(
            f"PRICING_VALUE_RATE must be an exact fraction, got {raw!r}"
        ) from exc
    if rate < 0:
        raise ImproperlyConfigured(f"PRICING_VALUE_RATE must not be negative, got {raw!r}")
    return rate


def platform_currency() -> str:
    return settings.PLATFORM_CURRENCY.lower()


def quote_ttl() -> timedelta:
    return timedelta(minutes=int(getattr(settings, "QUOTE_TTL_MINUTES", DEFAULT_QUOTE_TTL_MINUTES)))


def download_max_age() -> timedelta:
    default = DEFAULT_DOWNLOAD_MAX_AGE_SECONDS
    seconds = getattr(settings, "PAYMENTS_DOWNLOAD_MAX_AGE_SECONDS", default)
    return timedelta(seconds=int(seconds))


def max_transfer_attempts() -> int:
    return int(getattr(settings, "PAYMENTS_MAX_TRANSFER_ATTEMPTS", DEFAULT_MAX_TRANSFER_ATTEMPTS))


def max_webhook_attempts() -> int:
    return int(getattr(settings, "PAYMENTS_MAX_WEBHOOK_ATTEMPTS", DEFAULT_MAX_WEBHOOK_ATTEMPTS))


def retry_delay_seconds(attempt: int) -> int:
    """Back-off before retry number ``attempt`` (1-based): 30 s, 2 min, 8 min, ... capped at 1 h."""
    return min(30 * 4 ** max(attempt - 1, 0), 3600)


def absolute_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path
