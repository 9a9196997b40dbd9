"""A buyer's typed budget ("12", "12.50") as integer minor units."""

from __future__ import annotations

from django.conf import settings

from core.money import MoneyParseError, parse_major
from valuation.errors import ValuationRequestInvalid


def money_to_minor_units(*, text: str, currency: str | None = None) -> int:
    """What a buyer typed as integer minor units of ``currency`` (default: the platform
    currency, in which listings are priced and quotes are made); refused with a clear text."""
    try:
        return parse_major(text, currency or settings.PLATFORM_CURRENCY)
    except MoneyParseError as exc:
        raise ValuationRequestInvalid(str(exc)) from exc
