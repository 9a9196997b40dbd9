"""Validators shared by several apps' models."""

from django.core.validators import RegexValidator

# Money is stored with a lower-case ISO 4217 currency code, as Stripe writes it ("usd").
CURRENCY_VALIDATOR = RegexValidator(
    r"^[a-z]{3}$", "A currency is a lower-case 3-letter ISO 4217 code such as 'usd'."
)
