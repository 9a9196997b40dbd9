"""Payment settings, typed. Each is read from ``django.conf.settings`` when called (so the
``settings`` fixture overrides it in tests); config/settings/base.py reads them from the
environment and documents their defaults.
"""

from datetime import timedelta
from fractions import Fraction

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def platform_fee_bps() -> int:
    return int(settings.PLATFORM_FEE_BPS)


def value_rate() -> Fraction:
    """PRICING_VALUE_RATE as an exact fraction ("40", "7/2"); floats are not accepted."""
    raw = str(settings.PRICING_VALUE_RATE)
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
    return timedelta(minutes=int(settings.QUOTE_TTL_MINUTES))


def download_max_age() -> timedelta:
    """How long a signed download link is good for."""
    return timedelta(seconds=int(settings.PAYMENTS_DOWNLOAD_MAX_AGE_SECONDS))


def max_transfer_attempts() -> int:
    return int(settings.PAYMENTS_MAX_TRANSFER_ATTEMPTS)


def max_webhook_attempts() -> int:
    return int(settings.PAYMENTS_MAX_WEBHOOK_ATTEMPTS)


def stripe_max_network_retries() -> int:
    return int(settings.STRIPE_MAX_NETWORK_RETRIES)


def retry_delay_seconds(attempt: int) -> int:
    """Back-off before retry number ``attempt`` (1-based): 30 s, 2 min, 8 min, ... capped at 1 h."""
    return min(30 * 4 ** max(attempt - 1, 0), 3600)


def absolute_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path
