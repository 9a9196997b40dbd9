"""Validators shared by several apps' models."""

from django.core.validators import RegexValidator

# Money is stored with a lower-case ISO 4217 currency code, as Stripe writes it ("usd").
CURRENCY_VALIDATOR = RegexValidator(
    r"^[a-z]{3}$", "A currency is a lower-case 3-letter ISO 4217 code such as 'usd'."
)

# --- Documented ranges of the numbers users send (docs/security.md) --------------------------

# Database ids are signed 64-bit integers; a larger id names nothing (404), never a crash.
ID_MAX = 2**63 - 1
# A listing's floor price per 1,000 tokens, in minor units: at most 1,000,000.00.
FLOOR_PRICE_MAX = 100_000_000
# One order's total, in minor units: at most 999,999.99 (the most Stripe charges at once).
ORDER_TOTAL_MAX = 99_999_999  # = payments.pricing.MAX_TOTAL, which refuses larger quotes
# A valuation budget, in minor units: no order can cost more than ORDER_TOTAL_MAX, but a
# budget is a plan, so it may be up to 100 times that.
BUDGET_MAX = 100 * ORDER_TOTAL_MAX
# Page sizes of paginated API lists are capped by each pagination class (max_page_size).
