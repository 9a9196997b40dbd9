"""Production profile: the base settings hardened so ``manage.py check --deploy`` is clean.

Requires SECRET_KEY and ALLOWED_HOSTS from the environment, and STRIPE_API_KEY with
STRIPE_WEBHOOK_SECRET unless PAYMENTS_TEST_MODE=true; serve behind TLS (NUM_PROXIES=1 behind
one reverse proxy).
"""

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import env

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")  # no default: refuse to start without a real key
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

# Real payments, or an explicit, visible test mode: never a quiet fall-back to test payments.
if not PAYMENTS_TEST_MODE and not (STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET):  # noqa: F405
    missing = [
        name
        for name, value in (
            ("STRIPE_API_KEY", STRIPE_API_KEY),  # noqa: F405
            ("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET),  # noqa: F405
        )
        if not value
    ]
    raise ImproperlyConfigured(
        f"The production profile needs {' and '.join(missing)} for real payments; to run it "
        "with test payments on purpose (a demo, no money moves), set PAYMENTS_TEST_MODE=true."
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage",
}
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
# A user named like the demo buyer must never have their valuation shown to the public.
LANDING_DEMO_VALUATION = env.bool("LANDING_DEMO_VALUATION", default=False)
