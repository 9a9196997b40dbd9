"""The job page at the start of a valuation: its header, progress and pool figures agree,
and no time estimate is made from the plan step alone."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from valuation.models import ValuationChunk, ValuationJob
from valuation.selectors import job_eta_seconds, job_progress

pytestmark = pytest.mark.django_db

Stage, Done = ValuationChunk.Stage, ValuationChunk.Status.DONE


@pytest.fixture
def queued_job(buyer, make_task):
    task = make_task()
    job = ValuationJob.objects.create(
        buyer=buyer,
        task=task,
        target_set_hash=task.target_set_hash,
        model_spec="local",
        method="alinfik",
        label_fraction=0.1,
        progress_total=1,
    )
    ValuationChunk.objects.create(job=job, stage=Stage.PLAN, index=0)
    return job


def plan(job, *, pool=1600, labelled=80):
    """What the plan step leaves: the pool counted and 10 steps in all."""
    ValuationChunk.objects.filter(job=job, stage=Stage.PLAN).update(status=Done, seconds=0.4)
    rows = [(Stage.EMBED, 0, 800), (Stage.EMBED, 1, 800), (Stage.TARGET, 0, 80)]
    rows += [(Stage.EXACT, i, 20) for i in range(4)] + [(Stage.TRAIN, 0, 80)]
    rows += [(Stage.FINALISE, 0, pool)]
    ValuationChunk.objects.bulk_create(
        ValuationChunk(job=job, stage=stage, index=index, size=size) for stage, index, size in rows
    )
    ValuationJob.objects.filter(pk=job.pk).update(
        planned=True,
        pool_size=pool,
        n_labelled=labelled,
        progress_total=10,
        progress_done=1,
        status=ValuationJob.Status.RUNNING,
        started_at=timezone.now(),
        stage=Stage.PLAN,
    )
    job.refresh_from_db()
    return job


def page(job, buyer) -> str:
    client = Client()
    client.force_login(buyer)
    return client.get(f"/valuation/jobs/{job.pk}/").content.decode()


def test_before_planning_the_pool_is_not_shown_as_zero(queued_job, buyer):
    html = page(queued_job, buyer)

    assert '<p class="stat-value" data-field="pool_size">—</p>' in html
    assert "counted by the first step" in html
    assert '<p class="stat-value" data-field="n_labelled">—</p>' in html
    # Header and progress say the same.
    assert 'data-job-status="queued">Queued</span>' in html
    assert '<span data-field="status_label">Queued</span>' in html


def test_after_the_plan_step_there_is_no_estimate_yet(queued_job, buyer):
    job = plan(queued_job)

    assert job_eta_seconds(job=job) is None
    progress = job_progress(job=job)
    assert (progress.done, progress.total, progress.eta_text) == (1, 10, "estimating…")
    html = page(job, buyer)
    assert "about 0 s left" not in html
    assert '<p class="stat-value" data-field="pool_size">1,600</p>' in html
    assert 'data-job-status="running">Running</span>' in html
    assert '<span data-field="status_label">Running</span>' in html
    stage_rows = re.findall(r"<tr><td>(\w+)</td><td class=\"num\">(\d+ / \d+)</td>", html)
    assert ("Finalise", "0 / 1") in stage_rows


def test_the_estimate_comes_from_model_steps(queued_job):
    job = plan(queued_job)
    ValuationChunk.objects.filter(job=job, stage=Stage.EMBED, index=0).update(
        status=Done, seconds=30.0
    )

    # 8 unfinished steps: one more embed step at 30 s, the 7 others at the mean of the
    # finished model steps (30 s), the plan step's 0.4 s left out.
    assert job_eta_seconds(job=job) == pytest.approx(8 * 30.0)
