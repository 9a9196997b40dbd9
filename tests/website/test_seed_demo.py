"""``manage.py seed_demo``: idempotent, uses the ingest services, clear errors."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from marketplace.models import DatasetVersion, Listing, Sample, SampleBand, TargetSample, TargetTask
from payments.models import Order
from payments.selectors.ledger import ledger_is_balanced
from payments.selectors.reports import provider_report
from tests.marketplace.conftest import run_seed_demo, write_jsonl_files
from valuation.models import ValuationJob
from valuation.selectors import job_version_ids, pool_counts_by_version
from valuation.services.pipeline import labels_for_pool

REAL_DEMO = Path(settings.BASE_DIR) / "demo"


def write_demo(folder: Path) -> Path:
    """A two-provider demo: an original dataset and a copier, plus one target."""
    data = folder / "data"
    (data / "targets").mkdir(parents=True)
    original = [
        {"id": f"orig-{i:03d}", "text": f"Original sample number {i} " * 8} for i in range(12)
    ]
    copier = original[:2] + [
        {"id": f"new-{i}", "text": f"A fresh sample {i} " * 6} for i in range(3)
    ]
    target = [{"id": "t1", "prompt": "Say a sample.", "response": "Original sample number 1."}]
    files = {
        "data/original.jsonl": original,
        "data/copier.jsonl": copier,
        "data/targets/target.jsonl": target,
    }
    hashes = write_jsonl_files(folder, files)

    def dataset(slug, provider, name, price, tags):
        return {
            "slug": slug,
            "provider": provider,
            "title": slug.title(),
            "description": f"{slug} description",
            "license": "WordNet AND MIT",
            "attribution": "Someone, 1961.",
            "tags": tags,
            "floor_price_cents_per_1k_tokens": price,
            "format": "text",
            "datasheet": {"source": "src", "language": "en (Early Modern English)"},
            "file": name,
            "sha256": hashes[name],
        }

    manifest = {
        "providers": [
            {"slug": "orig-lab", "name": "Original Lab"},
            {"slug": "copy-shop", "name": "Copy Shop"},
        ],
        "datasets": [
            dataset("original", "orig-lab", "data/original.jsonl", 4, ["prose"]),
            dataset("copier", "copy-shop", "data/copier.jsonl", 1, ["bulk"]),
        ],
        "targets": [
            {
                "slug": "target",
                "title": "Target task",
                "description": "d",
                "file": "data/targets/target.jsonl",
                "sha256": hashes["data/targets/target.jsonl"],
            }
        ],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def state() -> dict:
    return {
        "users": sorted(get_user_model().objects.values_list("username", "password")),
        "listings": sorted(
            Listing.objects.values_list("slug", "status", "updated_at", "current_version_id")
        ),
        "versions": sorted(DatasetVersion.objects.values_list("id", "status", "updated_at")),
        "samples": Sample.objects.count(),
        "duplicates": sorted(
            Sample.objects.exclude(duplicate_of=None).values_list("id", "duplicate_of_id")
        ),
        "bands": SampleBand.objects.count(),
        "tasks": sorted(TargetTask.objects.values_list("name", "updated_at", "target_set_hash")),
        "target_samples": TargetSample.objects.count(),
    }


@pytest.mark.django_db
def test_seed_demo_creates_everything_once(tmp_path):
    demo = write_demo(tmp_path / "demo")
    output = run_seed_demo("--demo-dir", str(demo))

    assert "WARNING: demo staff account admin/admin" in output
    assert "buyer     buyer / demo-buyer-pass" in output
    User = get_user_model()
    assert User.objects.get(username="admin").is_staff
    assert User.objects.get(username="orig-lab").profile.is_provider
    assert User.objects.get(username="buyer").profile.is_buyer
    original = Listing.objects.get(slug="original")
    copier = Listing.objects.get(slug="copier")
    assert (original.status, copier.status) == ("published", "published")
    assert original.licence == "WordNet AND MIT"
    assert original.language == "en"
    assert original.floor_price_per_1k_tokens == 4
    assert "Attribution: Someone, 1961." in original.source
    assert original.current_version.sample_count == 12
    assert original.current_version.status == DatasetVersion.Status.READY
    # The copier listed later: its two copied samples are flagged, the rest is its own.
    flagged = Sample.objects.filter(version__listing=copier).exclude(duplicate_of=None)
    assert sorted(flagged.values_list("external_id", flat=True)) == ["orig-000", "orig-001"]
    task = TargetTask.objects.get(name="Target task")
    assert (task.buyer.username, task.status, task.sample_count) == ("buyer", "ready", 1)

    before = state()
    second = run_seed_demo("--demo-dir", str(demo))
    assert "seed_demo: nothing new to create." in second
    assert state() == before


@pytest.mark.django_db
def test_seed_demo_names_what_is_missing(tmp_path):
    with pytest.raises(CommandError, match="manifest.json is missing"):
        run_seed_demo("--demo-dir", str(tmp_path / "nothing"))
    demo = write_demo(tmp_path / "demo")
    (demo / "data" / "copier.jsonl").unlink()
    with pytest.raises(CommandError) as missing:
        run_seed_demo("--demo-dir", str(demo))
    assert str(missing.value) == (
        f"{demo / 'data' / 'copier.jsonl'} is missing (named by demo/manifest.json, copier)"
    )
    (demo / "data" / "copier.jsonl").write_text("{}\n")
    with pytest.raises(CommandError, match="does not match demo/manifest.json"):
        run_seed_demo("--demo-dir", str(demo))
    assert Listing.objects.count() == 0
    assert get_user_model().objects.count() == 0


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.skipif(not (REAL_DEMO / "manifest.json").exists(), reason="demo corpora not built")
def test_seed_demo_on_the_committed_corpora_flags_every_planted_duplicate():
    run_seed_demo()
    planted = json.loads((REAL_DEMO / "labels" / "duplicates.json").read_text())
    flagged = {
        s.external_id: (s.duplicate_of.external_id, s.duplicate_kind)
        for s in Sample.objects.exclude(duplicate_of=None).select_related("duplicate_of")
    }
    assert {d["id"]: (d["duplicate_of"], d["kind"]) for d in planted} == {
        d["id"]: flagged.get(d["id"]) for d in planted
    }
    manifest = json.loads((REAL_DEMO / "manifest.json").read_text())
    for entry in manifest["datasets"]:
        listing = Listing.objects.get(slug=entry["slug"])
        assert listing.status == "published"
        assert listing.current_version.sample_count == entry["num_samples"]
    assert TargetTask.objects.filter(status="ready").count() == len(manifest["targets"])
    # The demo valuation (README, "The demo valuation"): 2,088 samples, 104 exact labels.
    job = ValuationJob.objects.get()
    counts = pool_counts_by_version(version_ids=job_version_ids(job=job))
    assert (job.task.name, job.label_fraction, job.status) == (
        "Clean instruction following",
        0.05,
        "queued",
    )
    assert sorted(job.versions.values_list("listing__slug", flat=True)) == [
        "instruct-mix",
        "wordnet-definitions-instruct",
    ]
    assert (sum(counts.values()), labels_for_pool(counts=counts, fraction=0.05)) == (2088, 104)
    # The demo purchases: every demo provider has sales, fees and money paid out.
    for entry in manifest["providers"]:
        report = provider_report(
            provider=get_user_model().objects.get(username=entry["slug"]), currency="usd"
        )
        assert report.gross > 0 and report.fees > 0, entry["slug"]
        assert report.fees < report.gross, entry["slug"]
        assert report.summary.paid_out > 0 and report.payouts, entry["slug"]
        assert sum(p.amount for p in report.payouts) == report.summary.paid_out
    assert ledger_is_balanced()
    out = StringIO()
    call_command("payments_reconcile", stdout=out)
    assert out.getvalue().strip() == "0 mismatches"
    before = state()
    orders = sorted(Order.objects.values_list("pk", "status"))
    assert "nothing new to create" in run_seed_demo()
    assert state() == before
    assert sorted(Order.objects.values_list("pk", "status")) == orders
    assert ValuationJob.objects.count() == 1
