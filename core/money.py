"""The one money helper: currency exponents, parsing what a person types, and formatting.

Money is integer minor units with a lower-case ISO 4217 code ("usd"); amounts between two
roundings are exact Fractions. Nothing here uses floats. Every template filter, form, chart
and export that shows or reads money goes through these functions.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

# Currencies whose minor unit is the major unit (Stripe's list); every other one has cents.
ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
MAX_MAJOR_DIGITS = 12

_AMOUNT = re.compile(r"^\s*(\d{1,12})(?:\.(\d+))?\s*$")


class MoneyParseError(ValueError):
    """Text that is not an amount of the currency; the message speaks to the person."""


def exponent(currency: str) -> int:
    """Decimal places of the currency's major unit: 0 for JPY and the like, 2 otherwise."""
    return 0 if (currency or "").lower() in ZERO_DECIMAL else 2


def parse_major(text: str, currency: str) -> int:
    """ "12", "12.5" or "12.05" (major units) -> integer minor units of `currency`."""
    places = exponent(currency)
    example = "12" if places == 0 else "12 or 12.50"
    match = _AMOUNT.match(text or "")
    decimals = (match.group(2) or "") if match else ""
    if match is None or len(decimals) > places:
        detail = "whole numbers only" if places == 0 else f"at most {places} decimals"
        raise MoneyParseError(f"Enter an amount such as {example} ({detail}).")
    return int(match.group(1)) * 10**places + int(decimals.ljust(places, "0") or 0)


def minor_from_decimal(amount: Decimal, currency: str) -> int:
    """A form's Decimal in major units -> integer minor units of `currency`, exactly
    (``MoneyParseError`` when it has more decimals than the currency: 12.5 JPY)."""
    return parse_major(format(amount.normalize(), "f"), currency)


def decimal_from_minor(amount: int, currency: str) -> Decimal:
    """Integer minor units -> a Decimal in major units (a form's initial value)."""
    return Decimal(major_text(amount, currency))


def step(currency: str) -> str:
    """The smallest amount a person can type, for a number input's ``step``: "0.01", "1"."""
    places = exponent(currency)
    return f"0.{'0' * (places - 1)}1" if places else "1"


def major_text(amount: int, currency: str) -> str:
    """Integer minor units as an exact decimal string in major units: 1234 usd -> "12.34"."""
    places = exponent(currency)
    return str(Decimal(int(amount)).scaleb(-places).quantize(Decimal(1).scaleb(-places)))


def format_money(amount: int, currency: str) -> str:
    """Integer minor units as "1,234.56 USD" (or "1,234 JPY")."""
    places = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, minor = divmod(abs(int(amount)), 10**places)
    digits = f"{whole:,}" + (f".{minor:0{places}d}" if places else "")
    return f"{sign}{digits} {(currency or '').upper()}".rstrip()


def format_exact(amount: Fraction | int, currency: str, *, extra_places: int = 2) -> str:
    """An exact amount of minor units that may be a fraction of one, shown with
    `extra_places` more decimals than the currency has ("0.0043 USD"); "≈" marks rounding."""
    amount = Fraction(amount)
    places = exponent(currency) + extra_places
    scaled = amount * 10**places / 10 ** exponent(currency)
    rounded = round(scaled)
    sign = "-" if rounded < 0 else ""
    whole, minor = divmod(abs(rounded), 10**places)
    text = f"{sign}{whole:,}" + (f".{minor:0{places}d}" if places else "")
    approx = "" if rounded == scaled else "≈ "
    return f"{approx}{text} {(currency or '').upper()}"


def format_share(share: Fraction | float | int, *, places: int = 1) -> str:
    """A share of a whole as a percentage: Fraction(7, 16) -> "43.8 %"; tiny non-zero shares
    read "< 0.1 %" rather than "0.0 %"."""
    share = Fraction(share)
    percent = share * 100
    smallest = Fraction(1, 10**places)
    if 0 < percent < smallest:
        return f"< {float(smallest):.{places}f} %" if places else "< 1 %"
    return f"{float(round(percent, places)):.{places}f} %"
