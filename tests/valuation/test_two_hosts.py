"""Model artefacts in object storage: a valuation whose steps run on two hosts that share
only PostgreSQL, Redis and an S3 server (moto's standalone server on loopback) gives the
scores of a single worker; each host downloads each artefact at most once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core import artefacts
from tests.valuation.test_worker_recovery import request_job, scores_of, wait_finished, wait_for
from valuation import worker_cache
from valuation.models import ExactLabel, SampleScore, ValuationChunk, ValuationJob
from valuation.services import pipeline


def bucket_keys(s3_server, env: dict[str, str]) -> set[str]:
    listing = s3_server.client().list_objects_v2(Bucket=env["STORAGE_S3_BUCKET"])
    return {item["Key"] for item in listing.get("Contents", [])}


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_eager_valuation_keeps_its_artefacts_in_s3(
    valuation_settings,
    s3_storage,
    s3_server,
    pool,
    target_task,
    buyer,
    settings,
    eager_on_commit,
):
    worker_cache.clear()
    artefacts.stats.clear()
    job = request_job(target_task, pool, buyer)
    job.refresh_from_db()
    assert job.status == ValuationJob.Status.SUCCEEDED, job.error
    assert SampleScore.objects.filter(job=job).count() == job.pool_size == 68
    identity = worker_cache.token_source_prefix(job.model_identity)
    assert bucket_keys(s3_server, s3_storage) == {
        pipeline.proxy_name(job_id=job.pk),
        f"{pipeline.proxy_name(job_id=job.pk)}.sha256",
        f"{identity}/token_embeddings.npy",
        f"{identity}/token_embeddings.npy.sha256",
        f"{identity}/tokenizer.tar",
        f"{identity}/tokenizer.tar.sha256",
    }  # the target gradient was removed on success
    assert files_under(Path(settings.STORAGE_ROOT)) == []
    # g_T, the proxy, the token table and the tokenizer: each downloaded once, then reused.
    assert artefacts.stats["downloads"] == 4
    assert artefacts.stats["cache_hits"] > 4


def host_env(root: Path, tiny_model_dir: Path, valuation_env: dict, s3_env: dict) -> dict:
    """A host of its own: working folder, VAR_DIR, STORAGE_ROOT, artefact cache and a copy
    of the model files; shared with the other host only the database, Redis and S3."""
    models = shutil.copytree(tiny_model_dir, root / "models" / "tiny-gpt2")
    return {
        **valuation_env,
        **s3_env,
        "VAR_DIR": str(root / "var"),
        "STORAGE_ROOT": str(root / "var" / "storage"),
        "ARTEFACT_CACHE_DIR": str(root / "var" / "cache" / "artefacts"),
        "VALUATION_LOCAL_MODEL_DIR": str(models),
    }


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_hosts_value_one_pool_with_the_scores_of_one_worker(
    require_redis,
    require_postgres,
    start_worker,
    valuation_settings,
    s3_storage,
    s3_server,
    tiny_model_dir,
    pool,
    target_task,
    buyer,
    tmp_path,
):
    hosts = [tmp_path / "host-a", tmp_path / "host-b"]
    envs = [host_env(root, tiny_model_dir, valuation_settings, s3_storage) for root in hosts]
    for env in envs:
        # The exact step #0 sleeps on its first attempt: the other host takes the rest.
        env["VALUATION_TEST_STEP_SLEEP"] = "exact:0:4"
    workers = [
        start_worker(broker_url=require_redis, extra_env=env, cwd=root)
        for root, env in zip(hosts, envs, strict=True)
    ]
    job = wait_finished(request_job(target_task, pool, buyer), workers[0], timeout=240)
    assert job.status == ValuationJob.Status.SUCCEEDED, f"{job.error}\n{workers[1].log()}"
    assert SampleScore.objects.filter(job=job).count() == job.pool_size == 68

    # Each step records host:pid; a worker's pool process is in its worker's process group.
    groups = {worker.process.pid: name for worker, name in zip(workers, "ab", strict=True)}
    ran_on: dict[str, set[str]] = {"a": set(), "b": set()}
    for stage, tag in ValuationChunk.objects.filter(job=job).values_list("stage", "worker"):
        ran_on[groups[os.getpgid(int(tag.rsplit(":", 1)[1]))]].add(stage)
    assert ran_on["a"] and ran_on["b"], ran_on
    assert "exact" in ran_on["a"] and "exact" in ran_on["b"], ran_on

    # Nothing lands on a host's disk but its cache; each host downloaded g_T at most once.
    target = pipeline.target_gradient_name(job_id=job.pk)
    downloads = 0
    for root, worker in zip(hosts, workers, strict=True):
        assert files_under(root / "var" / "storage") == []
        count = worker.log_path.read_text(errors="replace").count(f"downloaded artefact {target}")
        assert count <= 1
        downloads += count
    assert downloads >= 1
    # Removed on success, just after the job is marked succeeded.
    wait_for(
        lambda: target not in bucket_keys(s3_server, s3_storage),
        workers[0],
        timeout=20,
        what="the target gradient to be removed",
    )
    assert pipeline.proxy_name(job_id=job.pk) in bucket_keys(s3_server, s3_storage)
    two_hosts = scores_of(job)

    # The reference: one worker (host a) alone, computing every label again.
    workers[1].stop()
    ExactLabel.objects.all().delete()
    reference = wait_finished(request_job(target_task, pool, buyer), workers[0], timeout=240)
    assert reference.status == ValuationJob.Status.SUCCEEDED, reference.error
    assert reference.n_labels_cached == 0
    assert two_hosts == scores_of(reference)
    assert job.fidelity == reference.fidelity
