"""Payment gateways; ``get_gateway()`` returns the one the settings select.

``STRIPE_API_KEY`` set: Stripe (``stripe_gateway``), at ``STRIPE_API_BASE`` when that is set.
Otherwise: the test-mode gateway (``test_gateway``), so the demo runs end to end offline.
"""

from __future__ import annotations

from django.conf import settings

from payments.gateways.base import PaymentGateway


def get_gateway() -> PaymentGateway:
    if settings.STRIPE_API_KEY:
        from payments.gateways.stripe_gateway import StripeGateway

        return StripeGateway(
            api_key=settings.STRIPE_API_KEY,
            api_base=settings.STRIPE_API_BASE,
            max_network_retries=int(settings.STRIPE_MAX_NETWORK_RETRIES),
        )
    from payments.gateways.test_gateway import TestGateway

    return TestGateway()


def gateway_is_test_mode() -> bool:
    """True when payments run on the test-mode gateway (no STRIPE_API_KEY)."""
    return not settings.STRIPE_API_KEY
