"""``{{ amount|money:currency }}``: integer minor units shown as "12.34 USD" (no floats)."""

from django import template

register = template.Library()

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


@register.filter
def money(amount, currency: str = "usd") -> str:
    if amount is None or amount == "":
        return ""
    amount = int(amount)
    code = (currency or "").lower()
    sign = "-" if amount < 0 else ""
    if code in ZERO_DECIMAL:
        return f"{sign}{abs(amount):,} {code.upper()}"
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole:,}.{cents:02d} {code.upper()}".rstrip()
