"""Cancelling a job stops the step that is running: model work checks the job between
batches and stops, so the worker is free within one batch, not after the whole step."""

from __future__ import annotations

import numpy as np
import pytest

from valuation.engine.exact import ExactLinFiK
from valuation.models import ExactLabel, SampleScore, ValuationChunk, ValuationJob
from valuation.services import (
    steps,
    valuation_job_cancel,
    valuation_job_request,
    valuation_job_retry,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_cancel_stops_the_running_exact_step_between_batches(
    valuation_settings, make_version, target_task, buyer, settings, eager_on_commit, monkeypatch
):
    settings.VALUATION_EXACT_BATCH_SIZE = 2  # a chunk of 8 samples is 4 batches
    settings.VALUATION_CANCEL_CHECK_SECONDS = 0
    version = make_version("Tiny", n=12, seed=4)
    original = ExactLinFiK._jvp_scores
    batches: list[int] = []

    def first_batch_then_cancel(self, batch, tangents):
        batches.append(int(batch["input_ids"].shape[0]))
        if len(batches) == 1:  # the buyer cancels while the first batch runs
            job = ValuationJob.objects.get()
            valuation_job_cancel(job=job, cancelled_by=buyer)
        return original(self, batch, tangents)

    monkeypatch.setattr(ExactLinFiK, "_jvp_scores", first_batch_then_cancel)
    job = valuation_job_request(
        task=target_task,
        versions=[version],
        model_spec="local",
        method="linfik",
        label_fraction=None,
        seed=0,
        requested_by=buyer,
    )

    job.refresh_from_db()
    assert job.status == ValuationJob.Status.CANCELLED
    assert batches == [2]  # one batch ran, of 6 in the job: the step stopped at the next one
    exact = ValuationChunk.objects.filter(job=job, stage=ValuationChunk.Stage.EXACT)
    assert [(c.index, c.status, c.worker) for c in exact.order_by("index")] == [
        (0, ValuationChunk.Status.PENDING, ""),  # released, for a retry
        (1, ValuationChunk.Status.PENDING, ""),  # never started
    ]
    assert not SampleScore.objects.filter(job=job).exists()  # nothing half-written
    assert not ExactLabel.objects.exists()

    monkeypatch.setattr(ExactLinFiK, "_jvp_scores", original)
    valuation_job_retry(job=job, retried_by=buyer)
    job.refresh_from_db()
    assert job.status == ValuationJob.Status.SUCCEEDED, job.error
    assert SampleScore.objects.filter(job=job, is_exact=True).count() == 12


def test_the_stop_check_reads_the_job_at_most_every_interval(
    valuation_settings,
    make_version,
    target_task,
    buyer,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.VALUATION_CANCEL_CHECK_SECONDS = 3600
    with django_capture_on_commit_callbacks(execute=False):
        job = valuation_job_request(
            task=target_task,
            versions=[make_version("T", n=12, seed=4)],
            model_spec="local",
            method="linfik",
            label_fraction=None,
            seed=0,
            requested_by=buyer,
        )
    ValuationJob.objects.filter(pk=job.pk).update(status=ValuationJob.Status.RUNNING)

    steps.check_stop()  # outside a step: nothing to check
    with steps.stop_when_job_stops(job_id=job.pk):
        steps.check_stop()  # running: goes on
        ValuationJob.objects.filter(pk=job.pk).update(status=ValuationJob.Status.CANCELLED)
        steps.check_stop()  # read an hour ago (in effect): not read again yet
    settings.VALUATION_CANCEL_CHECK_SECONDS = 0
    with steps.stop_when_job_stops(job_id=job.pk), pytest.raises(steps.StepStopped):
        steps.check_stop()


def test_engine_score_and_target_gradient_stop_when_the_callback_raises(tiny_model_dir):
    from valuation.engine.data import Sample
    from valuation.engine.models import load_model

    loaded = load_model(str(tiny_model_dir), device="cpu")
    scorer = ExactLinFiK(loaded.model, loaded.tokenizer, batch_size=1, max_length=16)
    samples = [Sample(id=str(i), text="the cat sat on the mat") for i in range(5)]
    target = scorer.target_gradient(samples[:2])
    calls = []

    def stop_on_third():
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        scorer.score(samples, target, between_batches=stop_on_third)
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(RuntimeError, match="stop"):
        scorer.target_gradient(samples, between_batches=stop_on_third)
    assert len(calls) == 3
    full = scorer.score(samples, target, between_batches=lambda: None)
    assert np.allclose(full, scorer.score(samples, target), atol=0)
