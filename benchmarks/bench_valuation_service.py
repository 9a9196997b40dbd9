"""Benchmark: the valuation service on a pool of 1,000,000 short samples, on this machine.

    .venv/bin/python benchmarks/bench_valuation_service.py            # 1M samples, SmolLM2
    .venv/bin/python benchmarks/bench_valuation_service.py --pool-size 20000 --labels 24

What it measures, separately:

1. Embedding throughput (the ingest path: ``version_embeddings_compute``, MiniLM, read from
   and written to the database) on a subset of distinct samples (default 5,000), and the
   time it would take for the whole pool, extrapolated linearly from that subset.
2. Building the pool: ``--pool-size`` samples in ``--listings`` ready, published listings,
   bulk-inserted. Texts are the measured distinct samples repeated, and each sample stores
   the embedding measured for its text (a copy, not recomputed).
3. One ALinFiK valuation of the whole pool for a new target task, given stored embeddings,
   run by ONE process with the pipeline inline (CELERY_TASK_ALWAYS_EAGER: the same code a
   worker runs, minus broker hops): per-stage timings, proxy-scoring throughput
   (samples/s per worker), end-to-end time and the peak resident memory of that process.
4. The proxy-scoring stage alone (the only stage whose work grows with the pool once
   embeddings are stored) in another fresh process: throughput and peak memory.

The job runs with VALUATION_PROXY_LAYERS = ``--proxy-layers`` (default 0): the pool is built
with stored embeddings only, so with layer features the job would first compute them for
every sample (one truncated forward pass each), which is ingest work, not valuation work.

Rerunning on the same --dir reuses the pool (and the figures measured when it was built);
``--embedding-only`` measures the embedding throughput again on the stored subset and
stops; ``--rescore-only`` runs phase 4 alone on the last job.

The database is a SQLite file under --dir unless DATABASE_URL is set (e.g. PostgreSQL).
Results go to <dir>/results.json and are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo" / "data"
TARGET_FILE = DEMO / "targets" / "modern-american-prose.jsonl"


def configure(bench_dir: Path) -> None:
    """Django on benchmark-only storage: its own database, storage and broker folders."""
    bench_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ["VAR_DIR"] = str(bench_dir)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{bench_dir / 'db.sqlite3'}")
    os.environ["STORAGE_ROOT"] = str(bench_dir / "storage")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    os.environ["DEBUG"] = "0"  # DEBUG keeps every SQL statement in memory: not what we measure
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: reset by exec, unlike ru_maxrss)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_records(path: Path) -> list[dict]:
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            records.append({key: record.get(key) for key in ("text", "prompt", "response")})
    return records


def distinct_records(n: int) -> list[dict]:
    seen, out = set(), []
    for path in sorted(DEMO.glob("*.jsonl")):
        for record in read_records(path):
            key = json.dumps(record, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(record)
    if len(out) < n:
        raise SystemExit(f"only {len(out)} distinct demo samples; use --distinct {len(out)}")
    return out[:n]


def joined(record: dict) -> str:
    return (
        record["text"]
        if record["text"] is not None
        else (f"{record['prompt']}\n{record['response']}")
    )


def make_listing(provider, title: str, n: int):
    from django.utils import timezone

    from marketplace.models import DatasetVersion, Listing

    slug = hashlib.sha256(f"{title}:{time.time_ns()}".encode()).hexdigest()[:12]
    listing = Listing.objects.create(
        provider=provider,
        title=title,
        slug=f"bench-{slug}",
        licence="CC-BY-4.0",
        floor_price_per_1k_tokens=10,
        currency="usd",
        status=Listing.Status.PUBLISHED,
        listed_at=timezone.now(),
        published_at=timezone.now(),
    )
    version = DatasetVersion.objects.create(
        listing=listing,
        number=1,
        original_filename=f"{title}.jsonl",
        format="jsonl",
        file_sha256="0" * 64,
        status=DatasetVersion.Status.READY,
        sample_count=n,
        ready_at=timezone.now(),
    )
    listing.current_version = version
    listing.save(update_fields=["current_version"])
    return version


def insert_samples(
    version, records, tokens, hashes, embeddings, start: int, count: int, batch: int
) -> None:
    from django.db import transaction

    from marketplace.models import Sample

    n_distinct = len(records)
    for offset in range(0, count, batch):
        rows = []
        for position in range(offset, min(offset + batch, count)):
            k = (start + position) % n_distinct
            record = records[k]
            rows.append(
                Sample(
                    version=version,
                    position=position,
                    source_line=position + 1,
                    external_id=f"b{position}",
                    token_count=tokens[k],
                    norm_hash=hashes[k],
                    text=record["text"],
                    prompt=record["prompt"],
                    response=record["response"],
                    embedding=embeddings[k] if embeddings is not None else None,
                )
            )
        with transaction.atomic():
            Sample.objects.bulk_create(rows, batch_size=batch)


def measure_embedding(version, pool_size: int) -> dict:
    """Embed a version's samples through the ingest service; samples/s and extrapolation."""
    from valuation.services.embeddings import version_embeddings_compute

    print(f"embedding {version.sample_count:,} samples with MiniLM ...", flush=True)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    computed = version_embeddings_compute(version_id=version.pk)
    seconds = time.perf_counter() - started
    rate = computed / seconds
    print(f"  {rate:.1f} samples/s", flush=True)
    return {
        "samples": computed,
        "seconds": round(seconds, 2),
        "samples_per_s": round(rate, 1),
        "extrapolated_pool_seconds": round(pool_size / rate, 0),
        "load_average_start": round(load, 2),
        "load_average_end": round(os.getloadavg()[0], 2),
    }


def save_prepared(bench_dir: Path, results: dict) -> None:
    """Keep the figures of the run that built the pool, for later runs that reuse it."""
    path = bench_dir / "prepare.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    for key in ("embedding", "pool_insert", "distinct_samples", "mean_tokens"):
        if key in results:
            saved[key] = results[key]
    path.write_text(json.dumps(saved, indent=2))


def prepare(args, results: dict) -> None:
    from accounts.services import user_create
    from marketplace.models import DatasetVersion, Listing, Sample, TargetSample, TargetTask
    from marketplace.tokens import count_tokens

    records = distinct_records(args.distinct)
    texts = [joined(record) for record in records]
    tokens = count_tokens(texts)
    hashes = [hashlib.sha256(text.encode()).hexdigest() for text in texts]
    results["distinct_samples"] = len(records)
    results["mean_tokens"] = round(sum(tokens) / len(tokens), 1)

    existing = Listing.objects.filter(title__startswith="Bench pool").count()
    pool = Sample.objects.filter(version__listing__title__startswith="Bench pool").count()
    if existing == args.listings and pool == args.pool_size:
        print(f"reusing the pool already in the database ({pool:,} samples)", flush=True)
        results["pool_reused"] = True
        return
    if existing:
        raise SystemExit(f"{args.dir} holds another pool; remove it or use another --dir")

    provider = user_create(
        username="bench-provider", email="p@bench.local", password=None, is_provider=True
    )
    buyer = user_create(username="bench-buyer", email="b@bench.local", password=None, is_buyer=True)

    # 1. Embedding throughput on the distinct subset, through the ingest service.
    subset = make_listing(provider, "Bench subset", len(records))
    insert_samples(subset, records, tokens, hashes, None, 0, len(records), 5_000)
    results["embedding"] = measure_embedding(subset, args.pool_size)
    save_prepared(args.dir, results)
    by_position = dict(Sample.objects.filter(version=subset).values_list("position", "embedding"))
    embeddings = [bytes(by_position[k]) for k in range(len(records))]
    Listing.objects.filter(pk=subset.listing_id).update(status=Listing.Status.UNPUBLISHED)

    # 2. The pool.
    per_listing = args.pool_size // args.listings
    started = time.perf_counter()
    for index in range(args.listings):
        n = per_listing if index < args.listings - 1 else args.pool_size - per_listing * index
        version = make_listing(provider, f"Bench pool {index + 1}", n)
        insert_samples(
            version, records, tokens, hashes, embeddings, index * per_listing, n, args.insert_batch
        )
        DatasetVersion.objects.filter(pk=version.pk).update(
            token_count=sum(tokens[(index * per_listing + p) % len(records)] for p in range(n))
        )
        print(
            f"  inserted listing {index + 1}/{args.listings} ({n:,} samples, "
            f"{time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    seconds = time.perf_counter() - started
    results["pool_insert"] = {
        "samples": args.pool_size,
        "seconds": round(seconds, 1),
        "rows_per_s": round(args.pool_size / seconds, 0),
    }
    save_prepared(args.dir, results)

    targets = read_records(TARGET_FILE)[: args.targets]
    task = TargetTask.objects.create(
        buyer=buyer,
        name="Bench task",
        status=TargetTask.Status.READY,
        target_set_hash=hashlib.sha256(json.dumps(targets).encode()).hexdigest(),
        sample_count=len(targets),
    )
    TargetSample.objects.bulk_create(
        TargetSample(
            task=task,
            position=i,
            source_line=i + 1,
            external_id=f"t{i}",
            norm_hash=str(i),
            **record,
        )
        for i, record in enumerate(targets)
    )


def run_job(args) -> dict:
    """One valuation, inline, in this (fresh) process; returns its figures."""
    from django.conf import settings

    from marketplace.models import DatasetVersion, TargetTask
    from valuation.models import SampleScore, ValuationJob
    from valuation.services import valuation_job_request

    settings.VALUATION_PROXY_CHUNK_SIZE = args.proxy_chunk
    settings.VALUATION_PROXY_LAYERS = args.proxy_layers
    versions = list(
        DatasetVersion.objects.filter(listing__title__startswith="Bench pool")
        .select_related("listing")
        .order_by("id")
    )
    pool = sum(v.sample_count for v in versions)
    fraction = args.labels / pool
    task = TargetTask.objects.get(name="Bench task")
    buyer = task.buyer
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    job = valuation_job_request(
        task=task,
        versions=versions,
        model_spec=args.model,
        method="alinfik",
        label_fraction=fraction,
        seed=0,
        requested_by=buyer,
    )
    seconds = time.perf_counter() - started
    job = ValuationJob.objects.get(pk=job.pk)
    if job.status != ValuationJob.Status.SUCCEEDED:
        raise SystemExit(f"job {job.pk} {job.status}: {job.error}")
    proxy_wall = job.timings["proxy"]["wall_seconds"]
    return {
        "job_id": job.pk,
        "model": args.model,
        "pool": job.pool_size,
        "labels": job.n_labelled,
        "label_fraction": fraction,
        "scores_written": SampleScore.objects.filter(job=job).count(),
        "end_to_end_seconds": round(seconds, 1),
        "timings": job.timings,
        "proxy_scoring_samples_per_s": round(job.pool_size / proxy_wall, 0),
        "exact_labels_per_s": round(
            (job.n_labelled - job.n_labels_cached) / job.timings["exact"]["wall_seconds"], 3
        )
        if "exact" in job.timings
        else None,
        "fidelity": job.fidelity,
        "peak_rss_mb_before_job": round(rss_before, 0),
        "peak_rss_mb": round(peak_rss_mb(), 0),
    }


def run_proxy_rescore(args) -> dict:
    """Score the whole pool again with the last job's proxy (its proxy chunks, run again:
    upserts overwrite), in a fresh process: the pool-size dependent stage alone, its
    throughput and its peak memory."""
    from valuation.models import ValuationChunk, ValuationJob
    from valuation.services.pipeline import proxy_chunk_compute

    job = ValuationJob.objects.filter(status=ValuationJob.Status.SUCCEEDED).latest("id")
    chunks = list(ValuationChunk.objects.filter(job=job, stage="proxy").order_by("index"))
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    for chunk in chunks:
        proxy_chunk_compute(chunk=chunk)
    seconds = time.perf_counter() - started
    return {
        "job_id": job.pk,
        "samples": job.pool_size,
        "chunks": len(chunks),
        "seconds": round(seconds, 1),
        "samples_per_s": round(job.pool_size / seconds, 0),
        "peak_rss_mb_before": round(rss_before, 0),
        "peak_rss_mb": round(peak_rss_mb(), 0),
    }


def child(phase: str) -> dict:
    process = subprocess.run(
        [sys.executable, __file__, f"--{phase}", *sys.argv[1:]],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    if process.returncode != 0:
        print(process.stdout[-3000:], process.stderr[-6000:], file=sys.stderr)
        raise SystemExit(process.returncode)
    return json.loads(process.stdout.strip().splitlines()[-1])


def markdown(results: dict) -> str:
    job, emb = results["job"], results.get("embedding")
    t = job["timings"]
    lines = [
        f"Pool: {job['pool']:,} samples in {results['listings']} listings "
        f"({results['distinct_samples']:,} distinct demo texts repeated, mean "
        f"{results['mean_tokens']} tokens); model `{job['model']}`; {job['labels']} exact "
        f"labels; database {results['database']}; {results['machine']}; load average "
        f"{results['load_average_start'][0]} at start, {results['load_average_end'][0]} at "
        "end (the machine is shared).",
        "",
        "| Measure | Result |",
        "|---|---|",
    ]
    if emb:
        lines.append(
            f"| Embedding throughput (MiniLM, ingest service, measured on "
            f"{emb['samples']:,} samples) | {emb['samples_per_s']:,} samples/s |"
        )
        lines.append(
            f"| Embedding the whole pool (extrapolated from that subset, not run) | "
            f"{emb['extrapolated_pool_seconds'] / 3600:.1f} h per worker |"
        )
    if "pool_insert" in results:
        lines.append(
            f"| Inserting the pool (bulk_create) | {results['pool_insert']['seconds']:,} s "
            f"({results['pool_insert']['rows_per_s']:,.0f} rows/s) |"
        )
    lines += [
        f"| Proxy scoring of the whole pool, given stored embeddings | "
        f"{job['proxy_scoring_samples_per_s']:,.0f} samples/s per worker "
        f"({t['proxy']['wall_seconds']} s) |",
        f"| Exact LinFiK labels | {job['exact_labels_per_s']} samples/s "
        f"({t.get('exact', {}).get('wall_seconds', 0)} s for {job['labels']}) |",
        f"| Target gradient | {t.get('target', {}).get('wall_seconds', 0)} s |",
        f"| Plan / train proxy / finalise | {t['plan']['wall_seconds']} s / "
        f"{t['train']['wall_seconds']} s / {t['finalise']['wall_seconds']} s |",
        f"| End-to-end job (one process) | {job['end_to_end_seconds']:,} s |",
        f"| Peak resident memory of that process | {job['peak_rss_mb']:,.0f} MB |",
        f"| Scores written | {job['scores_written']:,} |",
    ]
    rescore = results.get("proxy_rescore")
    if rescore:
        lines.append(
            f"| Proxy scoring alone, fresh process (all {rescore['chunks']} proxy chunks "
            f"again) | {rescore['samples_per_s']:,.0f} samples/s ({rescore['seconds']} s), "
            f"peak {rescore['peak_rss_mb']:,.0f} MB |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool-size", type=int, default=1_000_000)
    parser.add_argument("--listings", type=int, default=4)
    parser.add_argument("--distinct", type=int, default=5_000)
    parser.add_argument("--labels", type=int, default=120, help="exact labels in total")
    parser.add_argument("--targets", type=int, default=8)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--proxy-chunk", type=int, default=50_000)
    parser.add_argument(
        "--proxy-layers",
        type=int,
        default=0,
        help="VALUATION_PROXY_LAYERS for the job (default 0: the pool stores no layer "
        "features, so N > 0 makes the job compute them for every sample in its embed steps)",
    )
    parser.add_argument("--insert-batch", type=int, default=5_000)
    parser.add_argument("--dir", type=Path, default=REPO / "var" / "bench-valuation")
    parser.add_argument(
        "--embedding-only",
        action="store_true",
        help="only measure embedding throughput again, on the stored subset",
    )
    parser.add_argument("--job-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--rescore-only",
        action="store_true",
        help="only score the pool again with the last job's proxy",
    )
    args = parser.parse_args()
    configure(args.dir)

    # Children: fresh processes, so each peak memory is that phase's alone.
    if args.job_only:
        print(json.dumps(run_job(args)))
        return 0
    if args.rescore_only:
        print(json.dumps(run_proxy_rescore(args)))
        return 0
    if args.embedding_only:
        from marketplace.models import DatasetVersion, Sample

        subset = DatasetVersion.objects.get(listing__title="Bench subset")
        Sample.objects.filter(version=subset).update(embedding=None)
        measured = {"embedding": measure_embedding(subset, args.pool_size)}
        save_prepared(args.dir, measured)
        print(json.dumps(measured))
        return 0

    from django.db import connection

    results: dict = {
        "command": " ".join(
            [".venv/bin/python", "benchmarks/bench_valuation_service.py", *sys.argv[1:]]
        ),
        "listings": args.listings,
        "database": connection.vendor,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads "
        f"{__import__('torch').get_num_threads()}",
    }
    results["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
    prepare(args, results)
    connection.close()
    prepared = args.dir / "prepare.json"
    if prepared.exists():  # figures of the run that built the pool, when reused
        results = {**json.loads(prepared.read_text()), **results}
    print("valuing the pool ...", flush=True)
    results["job"] = child("job-only")
    print("scoring the pool again with the proxy alone ...", flush=True)
    results["proxy_rescore"] = child("rescore-only")
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    out = args.dir / "results.json"
    out.write_text(json.dumps(results, indent=2))
    print(markdown(results))
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
