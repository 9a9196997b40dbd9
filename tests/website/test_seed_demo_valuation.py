"""``seed_demo`` queues the demo buyer's valuation once, through the valuation request service.

The demo folders here use the real demo's slugs (valuation.demo.DEMO_VALUATION) with small,
synthetic files, so the command picks the same target and datasets as on the real corpora.
No worker runs: the job is only queued (on_commit callbacks never fire in these tests).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from marketplace.models import Listing, TargetTask
from tests.marketplace.conftest import run_seed_demo, sentence, write_jsonl_files
from valuation.demo import DEMO_VALUATION
from valuation.models import ValuationChunk, ValuationJob

pytestmark = pytest.mark.django_db


def write_instruct_demo(folder: Path, *, n_wordnet: int, n_mix: int) -> Path:
    """Two instruction datasets under the demo's slugs (the mix copies two wordnet pairs)
    and the demo's instruction-following target."""
    (folder / "data" / "targets").mkdir(parents=True)

    def pair(prefix: str, i: int) -> dict:
        return {
            "id": f"{prefix}-{i:04d}",
            "prompt": sentence(10_000 + i if prefix == "wn" else 20_000 + i, 10),
            "response": sentence(30_000 + i if prefix == "wn" else 40_000 + i, 20),
        }

    wordnet = [pair("wn", i) for i in range(n_wordnet)]
    mix = [{**wordnet[i], "id": f"mix-copy-{i}"} for i in range(2)]
    mix += [pair("mix", i) for i in range(n_mix - 2)]
    target = [
        {"id": f"t{i}", "prompt": f"Define the word {word}.", "response": sentence(i, 8)}
        for i, word in enumerate(["quay", "plinth", "gable"])
    ]
    files = {
        "data/wordnet.jsonl": wordnet,
        "data/mix.jsonl": mix,
        "data/targets/clean.jsonl": target,
    }
    hashes = write_jsonl_files(folder, files)

    def dataset(slug: str, provider: str, name: str) -> dict:
        return {
            "slug": slug,
            "provider": provider,
            "title": slug.replace("-", " ").title(),
            "license": "MIT",
            "floor_price_cents_per_1k_tokens": 2,
            "format": "instruction",
            "file": name,
            "sha256": hashes[name],
        }

    manifest = {
        "providers": [{"slug": "lexicon-coop"}, {"slug": "quickscrape"}],
        "datasets": [
            dataset("wordnet-definitions-instruct", "lexicon-coop", "data/wordnet.jsonl"),
            dataset("instruct-mix", "quickscrape", "data/mix.jsonl"),
        ],
        "targets": [
            {
                "slug": "clean-instruction-following",
                "title": "Clean instruction following",
                "file": "data/targets/clean.jsonl",
                "sha256": hashes["data/targets/clean.jsonl"],
            },
        ],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def current_version_ids(*slugs: str) -> list[int]:
    return [Listing.objects.get(slug=slug).current_version_id for slug in slugs]


def test_the_demo_valuation_is_alinfik_on_smollm2_for_clean_instruction_following():
    assert DEMO_VALUATION.target == "clean-instruction-following"
    assert DEMO_VALUATION.datasets == ("wordnet-definitions-instruct", "instruct-mix")
    assert (DEMO_VALUATION.method, DEMO_VALUATION.model_spec) == ("alinfik", "smollm2-135m")
    assert (DEMO_VALUATION.label_fraction, DEMO_VALUATION.seed) == (0.05, 0)


def test_seed_demo_queues_one_valuation_job_for_the_demo_buyer(tmp_path):
    demo = write_instruct_demo(tmp_path / "demo", n_wordnet=100, n_mix=40)
    output = run_seed_demo("--demo-dir", str(demo))

    job = ValuationJob.objects.get()
    task = TargetTask.objects.get(name="Clean instruction following")
    assert (job.buyer.username, job.task_id, task.buyer.username) == ("buyer", task.pk, "buyer")
    assert sorted(job.versions.values_list("id", flat=True)) == sorted(
        current_version_ids("wordnet-definitions-instruct", "instruct-mix")
    )
    assert (job.method, job.model_spec, job.label_fraction, job.seed) == (
        "alinfik",
        "smollm2-135m",
        0.05,
        0,
    )
    assert (job.status, job.target_set_hash, job.budget) == ("queued", task.target_set_hash, None)
    assert list(ValuationChunk.objects.values_list("job_id", "stage", "index", "status")) == [
        (job.pk, "plan", 0, "pending")
    ]
    assert (
        f"+ valuation job #{job.pk}: ALinFiK (exact labels on a sample + learned proxy) of "
        "wordnet-definitions-instruct, instruct-mix for 'Clean instruction following', "
        "label fraction 0.05, model smollm2-135m (queued for a worker)\n"
    ) in output
    assert (
        f"  valuation /valuation/jobs/{job.pk}/ queued (job #{job.pk}, "
        "Clean instruction following; log in as buyer)\n"
    ) in output

    second = run_seed_demo("--demo-dir", str(demo))
    assert "seed_demo: nothing new to create." in second
    assert "+ valuation job" not in second
    assert list(ValuationJob.objects.values_list("id", "status")) == [(job.pk, "queued")]
    assert ValuationChunk.objects.count() == 1
    assert f"  valuation /valuation/jobs/{job.pk}/ queued" in second


def test_seed_demo_keeps_the_buyers_job_on_the_task_whatever_its_status(tmp_path):
    demo = write_instruct_demo(tmp_path / "demo", n_wordnet=100, n_mix=40)
    run_seed_demo("--demo-dir", str(demo))
    ValuationJob.objects.update(status=ValuationJob.Status.FAILED, error="worker died")

    output = run_seed_demo("--demo-dir", str(demo))

    job = ValuationJob.objects.get()
    assert (job.status, job.error) == ("failed", "worker died")
    assert f"  valuation /valuation/jobs/{job.pk}/ failed (job #{job.pk}," in output
    assert "seed_demo: nothing new to create." in output


def test_seed_demo_no_valuation_requests_none(tmp_path):
    demo = write_instruct_demo(tmp_path / "demo", n_wordnet=100, n_mix=40)
    output = run_seed_demo("--demo-dir", str(demo), "--no-valuation")

    assert not ValuationJob.objects.exists() and not ValuationChunk.objects.exists()
    assert "valuation" not in output
    assert Listing.objects.filter(status="published").count() == 2

    later = run_seed_demo("--demo-dir", str(demo))  # opting out is per run: the next one queues it
    assert ValuationJob.objects.count() == 1
    assert "seed_demo: created 1 object(s)." in later


def test_a_refused_demo_valuation_fails_the_command_and_writes_no_job(tmp_path):
    # 20 + 8 poolable samples at 5 % give 1 + 1 labels, fewer than ALinFiK's minimum of 6.
    demo = write_instruct_demo(tmp_path / "demo", n_wordnet=20, n_mix=10)
    with pytest.raises(CommandError) as refused:
        run_seed_demo("--demo-dir", str(demo))

    assert str(refused.value) == (
        "the demo valuation could not be requested: ALinFiK needs at least 6 exact labels, "
        "but a label fraction of 0.05 on 28 samples gives 2; raise the label fraction or "
        "add datasets. (run with --no-valuation to seed without it)"
    )
    assert not ValuationJob.objects.exists() and not ValuationChunk.objects.exists()
    assert Listing.objects.filter(status="published").count() == 2  # the rest is seeded
    again = run_seed_demo("--demo-dir", str(demo), "--no-valuation")
    assert "seed_demo: nothing new to create." in again


def test_a_manifest_without_the_demo_target_skips_the_valuation(tmp_path):
    demo = write_instruct_demo(tmp_path / "demo", n_wordnet=100, n_mix=40)
    manifest = json.loads((demo / "manifest.json").read_text())
    manifest["targets"][0]["slug"] = "another-target"
    (demo / "manifest.json").write_text(json.dumps(manifest))

    output = run_seed_demo("--demo-dir", str(demo))

    assert "  demo valuation skipped: this manifest has no clean-instruction-following\n" in output
    assert not ValuationJob.objects.exists()
