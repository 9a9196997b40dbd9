"""Chart.js configs for the report pages (read by static/js/app.js from a JSON island).

Amounts are converted from integer minor units to exact decimal strings ("12.34"), which
Chart.js parses as numbers; no float is ever computed. The HTML tables beside each chart show
the same figures without JavaScript.
"""

from __future__ import annotations

from core.money import major_text as major_units


def bar_chart(labels: list[str], series: dict[str, list[int]], *, currency: str) -> dict:
    """A grouped bar chart: one dataset per series, amounts in major units of ``currency``."""
    return {
        "type": "bar",
        "data": {
            "labels": labels,
            "datasets": [
                {"label": name, "data": [major_units(amount, currency) for amount in amounts]}
                for name, amounts in series.items()
            ],
        },
        "options": {
            "responsive": True,
            "scales": {
                "y": {"beginAtZero": True, "title": {"display": True, "text": currency.upper()}}
            },
            "plugins": {"legend": {"position": "bottom"}},
        },
    }


def provider_earnings_chart(periods, *, currency: str) -> dict:
    return bar_chart(
        [row.period.strftime("%Y-%m") for row in periods],
        {
            "Earnings (net of refunds)": [row.net for row in periods],
            "Transferred to your payout account": [
                row.transferred - row.reversed for row in periods
            ],
        },
        currency=currency,
    )


def platform_revenue_chart(periods, *, currency: str) -> dict:
    return bar_chart(
        [row.period.strftime("%Y-%m") for row in periods],
        {
            "Fee revenue (net of refunds)": [row.net for row in periods],
            "Buyer payments (net of refunds)": [
                row.buyer_payments - row.refunds for row in periods
            ],
        },
        currency=currency,
    )
