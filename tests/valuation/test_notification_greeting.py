"""The email that a valuation finished greets the buyer by their display name."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from accounts.services import user_create
from marketplace.models import TargetTask
from valuation.models import ValuationJob
from valuation.services.notifications import job_notify_finished

pytestmark = pytest.mark.django_db


def finished_job(**user_fields) -> ValuationJob:
    buyer = user_create(
        email="bea@example.com", password="pw-long-enough-1", is_buyer=True, **user_fields
    )
    task = TargetTask.objects.create(buyer=buyer, name="Support replies", target_set_hash="e" * 64)
    return ValuationJob.objects.create(
        buyer=buyer,
        task=task,
        target_set_hash="e" * 64,
        model_spec="smollm2-135m",
        method="alinfik",
        label_fraction=0.05,
        status=ValuationJob.Status.SUCCEEDED,
        pool_size=2088,
        finished_at=timezone.now(),
        fidelity={"spearman": 0.514},
    )


def test_the_email_greets_by_display_name_with_grouped_figures():
    job = finished_job(username="bea42", display_name="Bea Buyer")

    assert job_notify_finished(job_id=job.pk) is True

    body = mail.outbox[0].body
    assert body.startswith("Hello Bea Buyer,\n")
    assert "bea42" not in body
    assert "2,088 candidate samples were valued" in body


def test_without_a_display_name_the_username_is_used():
    job = finished_job(username="bea42")

    job_notify_finished(job_id=job.pk)

    assert mail.outbox[0].body.startswith("Hello bea42,\n")
