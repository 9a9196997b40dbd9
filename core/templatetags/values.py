"""``{{ score|value }}`` and ``{{ mean|signed_value }}``: LinFiK values on every page in one
format (``core.formatting.value_text``)."""

from django import template

from core.formatting import value_text

register = template.Library()


@register.filter
def value(number) -> str:
    return value_text(number)


@register.filter
def signed_value(number) -> str:
    return value_text(number, signed=True)
