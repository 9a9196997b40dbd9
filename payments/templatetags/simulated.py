"""``{% if some_id|simulated %}``: true for the ids of test mode's simulated payout accounts,
transfers, reversals and bank payouts, so pages can label them "simulated"."""

from django import template

from payments.gateways.test_gateway import SIMULATED_ID_PREFIXES

register = template.Library()


@register.filter
def simulated(value) -> bool:
    return isinstance(value, str) and value.startswith(SIMULATED_ID_PREFIXES)
