"""A small finished valuation job to choose from, shared by the journey tests (Python and
browser). Built with ``tests.factories.make_listing``/``make_sample``.

    key  listing (floor/1k)   tokens  value  price (cents)  note
    a1   la (100, provider A) 1000     3.0   100
    a2   la                   1000     1.0   100
    a3   la                    500    -0.5    50
    a4   la                   1000     5.0   100            duplicate of a1: never chosen
    b1   lb (50, provider B)  2000     2.0   100
    b2   lb                    200     0.5    10
    c1   lc (draft listing)   1000    10.0                  not for sale: never chosen
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from marketplace.models import Listing, Sample, TargetTask
from tests.factories import make_listing, make_sample
from valuation.models import SampleScore, ValuationJob
from valuation.services.scores import job_summary_compute, job_summary_save

ROWS = {
    "a1": ("la", 0, 1000, 3.0),
    "a2": ("la", 1, 1000, 1.0),
    "a3": ("la", 2, 500, -0.5),
    "a4": ("la", 3, 1000, 5.0),
    "b1": ("lb", 0, 2000, 2.0),
    "b2": ("lb", 1, 200, 0.5),
    "c1": ("lc", 0, 1000, 10.0),
}


def build_job_world(*, buyer, provider_a, provider_b) -> dict:
    listings = {
        "la": make_listing(provider_a, "la"),
        "lb": make_listing(provider_b, "lb", floor=50),
        "lc": make_listing(provider_a, "lc", status=Listing.Status.DRAFT),
    }
    samples = {
        key: make_sample(listings[slug], position, tokens)
        for key, (slug, position, tokens, _) in ROWS.items()
    }
    Sample.objects.filter(pk=samples["a4"].pk).update(
        duplicate_of=samples["a1"], duplicate_kind="exact"
    )
    job = finished_job(
        buyer=buyer,
        task_name="Journey task",
        scored=[(samples[key], value) for key, (_, _, _, value) in ROWS.items()],
        listings=listings.values(),
    )
    return {"job": job, "samples": samples, "listings": listings, "task": job.task}


def finished_job(
    *, buyer, task_name: str, scored: list[tuple[Sample, float]], listings: Iterable[Listing]
) -> ValuationJob:
    """A succeeded valuation of ``scored`` (sample, value) for a new task of ``buyer``, with
    the summary the pipeline's last step stores (over the current versions of ``listings``)."""
    task = TargetTask.objects.create(buyer=buyer, name=task_name, target_set_hash="e" * 64)
    job = ValuationJob.objects.create(
        buyer=buyer,
        task=task,
        target_set_hash="e" * 64,
        model_spec="tiny",
        model_identity="sha-model",
        method="alinfik",
        label_fraction=0.5,
        status=ValuationJob.Status.SUCCEEDED,
        fidelity={"spearman": 0.9},
        finished_at=timezone.now(),
        pool_size=len(scored),
    )
    SampleScore.objects.bulk_create(
        SampleScore(job=job, sample=sample, version=sample.version, score=value)
        for sample, value in scored
    )
    version_ids = [listing.current_version_id for listing in listings]
    job_summary_save(job=job, summary=job_summary_compute(job=job, version_ids=version_ids))
    job.save(update_fields=["summary"])
    return job


def pks(world: dict, *keys: str) -> list[int]:
    return [world["samples"][key].pk for key in keys]


def build_sub_cent_job(*, buyer, providers: list, samples: int = 40) -> ValuationJob:
    """A finished valuation of ``samples`` samples from four listings of ``providers`` (round
    robin), 20 to 299 tokens at 3 to 24 cents per 1k tokens: each costs a fraction of a cent.
    Values are fixed, from -5/7 to 17/7; about a quarter are not positive."""
    listings = [
        make_listing(providers[i % len(providers)], f"lst{i}", floor=3 + 7 * i) for i in range(4)
    ]
    scored = []
    for index in range(samples):
        sample = make_sample(listings[index % 4], index // 4, 20 + (index * 37) % 280)
        scored.append((sample, ((index * 7919) % 23 - 5) / 7))
    job = finished_job(buyer=buyer, task_name="Cheap samples", scored=scored, listings=listings)
    return job
