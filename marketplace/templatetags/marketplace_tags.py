"""Small display helpers for marketplace templates."""

from django import template

from core.templatetags import money as money_filters

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


# Prices are shown by the money filter library (core/templatetags/money.py); the same
# filter under this library's name for the marketplace's templates.
register.filter("price_per_1k", money_filters.price_per_1k)
