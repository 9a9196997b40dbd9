"""Small display helpers for marketplace templates."""

from django import template

from core.money import format_money

register = template.Library()

STATUS_BADGES = {
    "draft": "badge-info",
    "published": "badge-success",
    "unpublished": "",
    "taken_down": "badge-danger",
    "staged": "badge-info",
    "validating": "badge-warning",
    "validated": "badge-warning",
    "ingesting": "badge-warning",
    "ready": "badge-success",
    "failed": "badge-danger",
    "discarded": "",
}


@register.filter
def status_badge(status: str) -> str:
    """CSS class of the badge for a listing/version/task status."""
    return STATUS_BADGES.get(status, "")


@register.filter
def price_per_1k(amount, currency: str = "usd") -> str:
    """Integer minor units per 1,000 tokens as "0.05 USD / 1k tokens" (exact, no floats)."""
    if amount is None:
        return ""
    return f"{format_money(int(amount), str(currency))} / 1k tokens"
