"""The whole pipeline run inline (CELERY_TASK_ALWAYS_EAGER) with a tiny model: results,
the exact-label cache, idempotent chunks, failures, retries and cancels."""

from unittest import mock

import pytest
from django.core import mail
from django.db.models import Count, Q

from core.artefacts import artefact_exists, artefact_local_path
from marketplace.models import Sample, TargetSample
from valuation import worker_cache
from valuation.engine.heads import EnsembleHead, RegressionHead
from valuation.engine.proxy import LinFiKProxy
from valuation.models import ExactLabel, SampleScore, ValuationChunk, ValuationJob
from valuation.services import (
    pipeline,
    valuation_job_cancel,
    valuation_job_request,
    valuation_job_retry,
)
from valuation.tasks import gpu, orchestration

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def request(task, versions, buyer, **overrides):
    options = {"model_spec": "local", "method": "alinfik", "label_fraction": 0.25, "seed": 7}
    options.update(overrides)
    return valuation_job_request(task=task, versions=versions, requested_by=buyer, **options)


def stage_counts(job):
    rows = ValuationChunk.objects.filter(job=job).values("stage").annotate(n=Count("id"))
    return {row["stage"]: row["n"] for row in rows}


def scores_of(job):
    return dict(SampleScore.objects.filter(job=job).values_list("sample_id", "score").order_by())


def test_alinfik_job_values_every_pool_sample(
    valuation_settings, pool, target_task, buyer, eager_on_commit, settings
):
    worker_cache.clear()
    job = request(target_task, pool, buyer)

    job.refresh_from_db()
    assert job.status == ValuationJob.Status.SUCCEEDED, job.error
    assert job.pool_size == 68  # 38 non-duplicate + 30
    assert job.n_labelled == 18  # round half up: 0.25 * 38 = 9.5 -> 10, 0.25 * 30 = 7.5 -> 8
    assert job.n_labels_cached == 0
    assert stage_counts(job) == {
        "plan": 1,
        "embed": 3,
        "target": 1,
        "exact": 3,
        "train": 1,
        "proxy": 4,
        "finalise": 1,
    }
    assert (job.progress_done, job.progress_total, job.retry_count) == (14, 14, 0)
    scores = SampleScore.objects.filter(job=job)
    assert scores.count() == 68
    assert scores.filter(is_exact=True).count() == 18
    assert not scores.filter(sample__duplicate_of__isnull=False).exists()
    assert ExactLabel.objects.count() == 18
    assert Sample.objects.filter(embedding__isnull=True, duplicate_of__isnull=True).count() == 0
    assert len(bytes(Sample.objects.exclude(embedding=None).first().embedding)) == 384 * 4
    assert set(job.fidelity) >= {"spearman", "kendall_tau", "precision_at_10pct", "n_holdout"}
    # Cross-fitted: 5 folds x 3 rounds; each of the 18 labels is held out from 3 heads.
    fidelity = job.fidelity
    assert (fidelity["n_holdout"], fidelity["folds"], fidelity["repeats"]) == (18, 5, 3)
    assert job.fidelity["inputs"] == [
        "sentence embedding",
        "model token embeddings",
        "model hidden state after layer 1",
    ]
    proxy = LinFiKProxy.load(artefact_local_path(name=pipeline.proxy_name(job_id=job.pk))[0])
    assert isinstance(proxy.head, EnsembleHead) and len(proxy.head.members) == 15
    assert proxy.metadata.fidelity["n_holdout"] == 18
    listings = {row.listing.title: row for row in job.listing_summaries.select_related("listing")}
    assert (listings["News"].valued, listings["News"].duplicates) == (38, 2)
    assert (listings["Code"].valued, listings["Code"].duplicates) == (30, 0)
    for row in listings.values():
        assert row.positive + row.negative + row.zero == row.valued
        assert sum(row.histogram) == row.valued
    assert job.summary["histogram"] == [
        a + b for a, b in zip(listings["News"].histogram, listings["Code"].histogram, strict=True)
    ]
    assert (job.summary["n_scored"], job.summary["listings_count"]) == (68, 2)
    assert set(job.timings) >= {"plan", "embed", "target", "exact", "train", "proxy", "finalise"}
    # Artefacts: the proxy stays, the (large) target gradient is removed on success.
    assert artefact_exists(name=pipeline.proxy_name(job_id=job.pk))
    assert (settings.STORAGE_ROOT / pipeline.proxy_name(job_id=job.pk)).is_file()
    assert not artefact_exists(name=pipeline.target_gradient_name(job_id=job.pk))
    assert not (settings.STORAGE_ROOT / pipeline.target_gradient_name(job_id=job.pk)).exists()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["bea@example.com"]
    assert "is ready" in mail.outbox[0].subject
    assert f"/valuation/jobs/{job.pk}/" in mail.outbox[0].body
    # One model and one encoder load for all the chunks of this process.
    assert worker_cache.stats["model_loads"] == 1
    assert worker_cache.stats["encoder_loads"] == 1


def test_one_fold_setting_trains_one_head_judged_on_its_holdout(
    valuation_settings, pool, target_task, buyer, eager_on_commit, settings
):
    settings.VALUATION_PROXY_FOLDS = 1
    job = request(target_task, pool, buyer)
    job.refresh_from_db()
    assert job.status == ValuationJob.Status.SUCCEEDED, job.error
    # One 60/20/20 split of the 18 labels: 4 held out (round half up of 3.6).
    fidelity = job.fidelity
    assert (fidelity["n_holdout"], fidelity["folds"], fidelity["repeats"]) == (4, 1, 1)
    proxy = LinFiKProxy.load(artefact_local_path(name=pipeline.proxy_name(job_id=job.pk))[0])
    assert isinstance(proxy.head, RegressionHead)


def test_second_job_on_same_pool_reuses_cached_exact_labels(
    valuation_settings, pool, target_task, buyer, make_version, eager_on_commit
):
    first = request(target_task, pool, buyer)
    first_scores = scores_of(first)
    embedded_before = dict(Sample.objects.values_list("id", "embedding"))

    with (
        mock.patch.object(
            pipeline, "exact_chunk_compute", side_effect=AssertionError("no exact labels")
        ),
        mock.patch.object(
            pipeline, "target_gradient_compute", side_effect=AssertionError("no target gradient")
        ),
    ):
        second = request(target_task, pool, buyer)

    second.refresh_from_db()
    assert second.status == ValuationJob.Status.SUCCEEDED, second.error
    assert (second.n_labelled, second.n_labels_cached) == (18, 18)
    assert stage_counts(second) == {"plan": 1, "train": 1, "proxy": 4, "finalise": 1}
    assert ExactLabel.objects.count() == 18
    assert scores_of(second) == first_scores
    assert dict(Sample.objects.values_list("id", "embedding")) == embedded_before

    # A third job adds a version: only the new version's labels are computed.
    extra = make_version("Poems", n=20, seed=5)
    third = request(target_task, [*pool, extra], buyer)
    third.refresh_from_db()
    assert third.status == ValuationJob.Status.SUCCEEDED, third.error
    assert (third.n_labelled, third.n_labels_cached) == (23, 18)  # + 0.25 * 20 = 5 new
    exact_sizes = list(
        ValuationChunk.objects.filter(job=third, stage="exact").values_list("size", flat=True)
    )
    assert exact_sizes == [5]
    assert ExactLabel.objects.count() == 23


def test_chunk_run_twice_overwrites_its_rows(
    valuation_settings, pool, target_task, buyer, settings, eager_on_commit
):
    settings.VALUATION_KEEP_TARGET_GRADIENT = True
    job = request(target_task, pool, buyer)
    before = scores_of(job)
    for stage, compute in (
        ("exact", pipeline.exact_chunk_compute),
        ("proxy", pipeline.proxy_chunk_compute),
        ("embed", pipeline.embed_chunk_compute),
    ):
        for chunk in ValuationChunk.objects.filter(job=job, stage=stage):
            compute(chunk=chunk)
    assert SampleScore.objects.filter(job=job).count() == 68
    assert ExactLabel.objects.count() == 18
    assert scores_of(job) == before
    # A duplicate delivery of a finished step does nothing at all.
    chunk = ValuationChunk.objects.get(job=job, stage="proxy", index=0)
    assert gpu.proxy_chunk.apply(args=(job.pk, 0), task_id=chunk.task_id).get() == "already_done"
    chunk.refresh_from_db()
    assert chunk.attempts == 1


def test_failed_chunk_fails_job_readably_then_retry_resumes_from_unfinished_chunks(
    valuation_settings, pool, target_task, buyer, eager_on_commit
):
    real = pipeline.proxy_chunk_compute

    def flaky(*, chunk):
        if chunk.index == 2:
            raise ValueError("embedding row 3 has a non-finite value")
        real(chunk=chunk)

    with mock.patch.object(pipeline, "proxy_chunk_compute", side_effect=flaky):
        job = request(target_task, pool, buyer)

    job.refresh_from_db()
    assert job.status == ValuationJob.Status.FAILED
    assert job.error == (
        "Proxy scoring, step 3 of 4 failed: ValueError: embedding row 3 has a non-finite value"
    )
    statuses = dict(
        ValuationChunk.objects.filter(job=job, stage="proxy").values_list("index", "status")
    )
    # The chunk after the failed one saw the job failed and did nothing.
    assert statuses == {0: "done", 1: "done", 2: "failed", 3: "pending"}
    assert ValuationChunk.objects.get(job=job, stage="finalise").status == "pending"
    assert "failed" in mail.outbox[-1].subject
    attempts = dict(ValuationChunk.objects.filter(job=job).values_list("id", "attempts"))

    retried = valuation_job_retry(job=job, retried_by=buyer)

    retried.refresh_from_db()
    assert retried.status == ValuationJob.Status.SUCCEEDED, retried.error
    assert (retried.round, retried.error) == (2, "")
    after = dict(ValuationChunk.objects.filter(job=job).values_list("id", "attempts"))
    rerun = {cid for cid in after if after[cid] != attempts[cid]}
    expected = ValuationChunk.objects.filter(job=job).filter(
        Q(stage="proxy", index__in=[2, 3]) | Q(stage="finalise")
    )
    assert rerun == set(expected.values_list("id", flat=True))
    assert SampleScore.objects.filter(job=job).count() == 68


@pytest.mark.django_db
def test_cancel_stops_remaining_steps_and_denied_actions_change_nothing(
    valuation_settings, pool, target_task, buyer, make_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = request(target_task, pool, buyer)  # queued: its job_run is not sent yet
    assert len(callbacks) == 1
    stranger = make_user("sam", roles=("buyer",))
    with pytest.raises(PermissionError, match="Only the buyer who requested"):
        valuation_job_cancel(job=job, cancelled_by=stranger)
    job.refresh_from_db()
    assert job.status == ValuationJob.Status.QUEUED

    valuation_job_cancel(job=job, cancelled_by=buyer)
    callbacks[0]()  # the queued job_run now arrives: it does nothing
    job.refresh_from_db()
    assert job.status == ValuationJob.Status.CANCELLED
    assert not SampleScore.objects.filter(job=job).exists()
    assert ValuationChunk.objects.get(job=job).attempts == 0
    with pytest.raises(Exception, match="already cancelled"):
        valuation_job_cancel(job=job, cancelled_by=buyer)
    with pytest.raises(PermissionError):
        valuation_job_retry(job=job, retried_by=stranger)
    job.refresh_from_db()
    assert (job.status, job.round) == (ValuationJob.Status.CANCELLED, 1)
    assert mail.outbox == []


def test_linfik_scores_every_sample_exactly(
    valuation_settings, make_version, target_task, buyer, eager_on_commit
):
    version = make_version("Tiny", n=12, seed=4)
    job = request(target_task, [version], buyer, method="linfik", label_fraction=None)
    job.refresh_from_db()
    assert job.status == ValuationJob.Status.SUCCEEDED, job.error
    assert job.label_fraction == 1.0
    assert stage_counts(job) == {"plan": 1, "target": 1, "exact": 2, "finalise": 1}
    assert SampleScore.objects.filter(job=job, is_exact=True).count() == 12
    assert job.fidelity == {}


@pytest.mark.django_db
def test_interrupted_step_counts_on_job_and_gives_up_past_the_bound(
    valuation_settings, pool, target_task, buyer, settings, django_capture_on_commit_callbacks
):
    settings.VALUATION_MAX_INTERRUPTIONS = 2
    with django_capture_on_commit_callbacks(execute=False):
        job = request(target_task, pool, buyer)
    plan = ValuationChunk.objects.get(job=job)
    dead = "ghost-host:4242"  # another host: presumed dead once the broker redelivers

    ValuationChunk.objects.filter(pk=plan.pk).update(status="running", worker=dead, attempts=1)
    ValuationJob.objects.filter(pk=job.pk).update(status="running", retry_count=2)
    outcome = orchestration.job_run.apply(args=(job.pk,), task_id=plan.task_id).get()

    assert outcome == "gave_up"
    job.refresh_from_db()
    assert job.status == ValuationJob.Status.FAILED
    assert job.retry_count == 3
    assert job.error.startswith(
        "Planning was interrupted because its worker process died, and the job had already "
        "been interrupted 2 times"
    )
    plan.refresh_from_db()
    assert (plan.status, plan.attempts) == ("failed", 1)


@pytest.mark.django_db
def test_stale_and_early_messages_do_nothing(
    valuation_settings, pool, target_task, buyer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        job = request(target_task, pool, buyer)
    plan = ValuationChunk.objects.get(job=job)
    assert orchestration.job_run.apply(args=(job.pk,), task_id="old-id").get() == "stale_message"
    plan.refresh_from_db()
    assert (plan.status, plan.attempts) == ("pending", 0)
    job.refresh_from_db()
    assert job.status == ValuationJob.Status.QUEUED


def test_bad_target_sample_fails_the_job_with_a_readable_error(
    valuation_settings, pool, target_task, buyer, eager_on_commit
):
    long_prompt = " ".join(["question"] * 40)  # fills the 32-token window: no response left
    TargetSample.objects.filter(task=target_task, position=0).update(
        text=None, prompt=long_prompt, response="answer yes"
    )
    job = request(target_task, pool, buyer)
    job.refresh_from_db()
    assert job.status == ValuationJob.Status.FAILED
    assert job.error.startswith(
        "Target gradient failed: EmptySampleError: sample 'target q0' has no predicted tokens "
        "after truncation to 32 tokens"
    )
    assert not SampleScore.objects.filter(job=job).exists()
    assert "failed" in mail.outbox[-1].subject and job.error in mail.outbox[-1].body
