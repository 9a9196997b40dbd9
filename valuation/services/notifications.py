"""Tell the buyer that a valuation finished (succeeded or failed), by email."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse

from accounts.selectors import display_name_of
from valuation.models import ValuationJob

logger = logging.getLogger(__name__)


def job_url(*, job: ValuationJob) -> str:
    try:
        path = reverse("valuation:job_detail", args=[job.pk])
    except NoReverseMatch:  # pages not mounted in this URLconf
        path = f"/valuation/jobs/{job.pk}/"
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def job_notify_finished(*, job_id: int) -> bool:
    """Email the job's buyer its outcome; False when the buyer has no email address."""
    job = ValuationJob.objects.select_related("buyer", "task").get(pk=job_id)
    if not job.buyer.email:
        return False
    context = {
        "job": job,
        "url": job_url(job=job),
        "fidelity": job.fidelity,
        "name": display_name_of(job.buyer),
    }
    subject = render_to_string("valuation/email/job_finished_subject.txt", context).strip()
    body = render_to_string("valuation/email/job_finished.txt", context)
    try:
        send_mail(subject, body, None, [job.buyer.email])
    except OSError:  # an unreachable mail server must not fail the job
        logger.exception("could not email the outcome of valuation job %s", job.pk)
        return False
    return True
