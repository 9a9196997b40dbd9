"""The one filter library for money in templates, through core.money:
``{{ amount|money:currency }}`` ("12.34 USD"), ``{{ fraction|money_exact:currency }}`` for
amounts below a cent, ``{{ price|price_per_1k:currency }}`` ("0.05 USD / 1k tokens") and
``{{ share|percent }}``."""

from django import template

from core import money as core_money

register = template.Library()


@register.filter
def money(amount, currency: str = "usd") -> str:
    if amount is None or amount == "":
        return ""
    return core_money.format_money(int(amount), currency)


@register.filter
def money_exact(amount, currency: str = "usd") -> str:
    if amount is None or amount == "":
        return ""
    return core_money.format_exact(amount, currency)


@register.filter
def price_per_1k(amount, currency: str = "usd") -> str:
    """Integer minor units per 1,000 tokens as "0.05 USD / 1k tokens" (exact, no floats)."""
    if amount is None:
        return ""
    return f"{core_money.format_money(int(amount), str(currency))} / 1k tokens"


@register.filter
def percent(share) -> str:
    if share is None or share == "":
        return ""
    return core_money.format_share(share)
