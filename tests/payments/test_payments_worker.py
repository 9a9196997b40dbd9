"""A Stripe webhook is processed by a real Celery worker process, after the commit."""

import time

from payments.models import ProviderAccount, WebhookEvent
from tests.fakes.stripe_api import FakeStripe
from tests.payments.conftest import WEBHOOK_SECRET, deliver


def test_a_webhook_event_is_processed_by_a_worker_process_after_commit(
    start_worker, settings, client, provider_a
):
    settings.STRIPE_API_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    # The worker consumes from the broker this test process publishes to (Redis in CI).
    broker_url = settings.CELERY_BROKER_URL
    extra_env = {"STRIPE_API_KEY": "", "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}
    if broker_url.startswith("filesystem://"):
        extra_env["CELERY_BROKER_FOLDER"] = str(settings.BROKER_DIR)
    worker = start_worker(broker_url=broker_url, queues="default", extra_env=extra_env)
    ProviderAccount.objects.create(provider=provider_a, stripe_account_id="acct_worker")
    fake = FakeStripe()  # only builds the event; no server needed
    account = dict(
        fake.fixtures["account"],
        id="acct_worker",
        charges_enabled=True,
        payouts_enabled=True,
        requirements={"currently_due": [], "past_due": [], "disabled_reason": None},
    )
    event = fake.event("account.updated", account, account="acct_worker")

    response = deliver(client, event)

    assert response.status_code == 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stored = WebhookEvent.objects.get(event_id=event["id"])
        if stored.status != WebhookEvent.Status.RECEIVED:
            break
        time.sleep(0.2)
    assert stored.status == WebhookEvent.Status.PROCESSED, worker.log()
    assert ProviderAccount.objects.get(provider=provider_a).payout_eligible
