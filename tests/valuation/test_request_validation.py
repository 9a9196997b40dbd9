"""valuation_job_request (and valuation_job_request_once) refuse bad requests with a readable
error and write nothing."""

import pytest

from marketplace.models import DatasetVersion, Listing
from valuation.errors import ValuationNotAllowed, ValuationRequestInvalid
from valuation.models import ValuationChunk, ValuationJob
from valuation.services import valuation_job_request, valuation_job_request_once

pytestmark = pytest.mark.django_db


def request(task, versions, user, **overrides):
    options = {"model_spec": "local", "method": "alinfik", "label_fraction": 0.25, "seed": 0}
    options.update(overrides)
    return valuation_job_request(task=task, versions=versions, requested_by=user, **options)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"label_fraction": 0}, "The label fraction must be greater than 0 and at most 1, got 0."),
        ({"label_fraction": 1.5}, "greater than 0 and at most 1, got 1.5."),
        ({"label_fraction": "lots"}, "The label fraction must be a number, got 'lots'."),
        (
            {"label_fraction": 0.05},
            "ALinFiK needs at least 6 exact labels, but a label fraction of 0.05 on 68 samples "
            "gives 4; raise the label fraction or add datasets.",
        ),
        ({"method": "magic"}, "Unknown method 'magic'; use one of alinfik, linfik."),
        (
            {"model_spec": "/etc/passwd"},
            "Unknown model '/etc/passwd'; choose one of smollm2-135m, local.",
        ),
        ({"seed": -1}, "The seed must be a whole number from 0 to 2147483647."),
    ],
)
def test_invalid_options(valuation_settings, pool, target_task, buyer, overrides, message):
    with pytest.raises(ValuationRequestInvalid) as error:
        request(target_task, pool, buyer, **overrides)
    assert message in str(error.value)
    assert not ValuationJob.objects.exists() and not ValuationChunk.objects.exists()


def test_pool_must_be_current_ready_versions_of_published_listings(
    valuation_settings, make_version, pool, target_task, buyer
):
    draft = make_version("Draft", n=10, seed=3, published=False)
    ingesting = make_version("Busy", n=10, seed=4, status=DatasetVersion.Status.INGESTING)
    # A draft was never on the market: the buyer learns its version id, not its title.
    for bad, name in ((draft, f"version {draft.pk}"), (ingesting, "Busy v1")):
        with pytest.raises(ValuationRequestInvalid) as error:
            request(target_task, [pool[0], bad], buyer)
        assert str(error.value) == (
            f"Only the current ready version of a published listing can be valued; not {name}."
        )
    Listing.objects.filter(pk=pool[1].listing_id).update(
        status=Listing.Status.TAKEN_DOWN, taken_down_at="2026-01-01T00:00Z"
    )
    with pytest.raises(ValuationRequestInvalid, match="not Code v1"):
        request(target_task, pool, buyer)
    with pytest.raises(ValuationRequestInvalid, match="Choose at least one dataset"):
        request(target_task, [], buyer)
    assert not ValuationJob.objects.exists()


def test_only_the_tasks_buyer_may_request(
    valuation_settings, pool, target_task, make_user, provider, make_task
):
    with pytest.raises(ValuationNotAllowed, match="Only buyers can request a valuation."):
        request(target_task, pool, provider)
    other = make_user("otto", roles=("buyer",))
    with pytest.raises(ValuationNotAllowed, match="Only the buyer who owns this target task"):
        request(target_task, pool, other)
    draft_task = make_task(owner=other, ready=False, seed=5)
    with pytest.raises(ValuationRequestInvalid, match="Upload a target set to this task"):
        request(draft_task, pool, other)
    assert not ValuationJob.objects.exists()


def test_linfik_ignores_label_fraction_and_records_one_plan_step(
    valuation_settings, pool, target_task, buyer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = request(target_task, pool, buyer, method="linfik", label_fraction="ignored")
    assert (job.method, job.label_fraction, job.status) == ("linfik", 1.0, "queued")
    assert job.target_set_hash == target_task.target_set_hash
    assert list(ValuationChunk.objects.filter(job=job).values_list("stage", "status")) == [
        ("plan", "pending")
    ]
    assert len(callbacks) == 1


# ---- valuation_job_request_once (seed_demo's idempotent request) ------------------------------


def request_once(task, versions, user, **overrides):
    options = {"model_spec": "local", "method": "alinfik", "label_fraction": 0.25, "seed": 0}
    options.update(overrides)
    return valuation_job_request_once(task=task, versions=versions, requested_by=user, **options)


def test_request_once_creates_one_job_then_returns_it_whatever_its_status(
    valuation_settings, pool, target_task, buyer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job, created = request_once(target_task, pool, buyer)
    assert created is True and len(callbacks) == 1
    assert (job.task_id, job.method, job.label_fraction, job.status) == (
        target_task.pk,
        "alinfik",
        0.25,
        "queued",
    )
    assert sorted(job.versions.values_list("id", flat=True)) == sorted(v.pk for v in pool)

    for status in ("running", "failed", "cancelled", "succeeded"):
        ValuationJob.objects.filter(pk=job.pk).update(status=status)
        with django_capture_on_commit_callbacks(execute=False) as again:
            same, created = request_once(target_task, pool[:1], buyer, label_fraction=0.5)
        assert (same.pk, same.status, created, len(again)) == (job.pk, status, False, 0)
    assert ValuationJob.objects.count() == 1 and ValuationChunk.objects.count() == 1


def test_request_once_refused_writes_nothing(
    valuation_settings, pool, target_task, buyer, make_user, provider
):
    other = make_user("otto", roles=("buyer",))
    with pytest.raises(ValuationNotAllowed, match="Only the buyer who owns this target task"):
        request_once(target_task, pool, other)
    with pytest.raises(ValuationNotAllowed, match="Only buyers can request a valuation."):
        request_once(target_task, pool, provider)
    with pytest.raises(ValuationRequestInvalid, match="ALinFiK needs at least 6 exact labels"):
        request_once(target_task, pool, buyer, label_fraction=0.05)
    assert not ValuationJob.objects.exists() and not ValuationChunk.objects.exists()


def test_request_once_failing_half_way_leaves_no_half_written_job(
    valuation_settings, pool, target_task, buyer, monkeypatch
):
    def broken_create(**fields):
        raise RuntimeError("database went away")

    monkeypatch.setattr(ValuationChunk.objects, "create", broken_create)
    with pytest.raises(RuntimeError, match="database went away"):
        request_once(target_task, pool, buyer)
    # The job row was inserted before the plan step failed: both are rolled back together.
    assert not ValuationJob.objects.exists() and not ValuationChunk.objects.exists()

    monkeypatch.undo()
    job, created = request_once(target_task, pool, buyer)
    assert created is True
    assert list(ValuationChunk.objects.values_list("job_id", "stage")) == [(job.pk, "plan")]
