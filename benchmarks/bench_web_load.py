"""Benchmark: the web at marketplace size, served by gunicorn and driven by Locust.

    .venv/bin/python benchmarks/bench_web_load.py \\
        --postgres postgres://postgres@127.0.0.1:5432/dm_bench_web [--scale 1] [--workers 3]

Builds, on a PostgreSQL database of the benchmark's own (its ``public`` schema is dropped and
migrated again), 10,000 published listings with one ready version each, 1,000,000 samples of
generated text, 1,000 buyers and one succeeded valuation holding 1,000,000 scores (synthetic
numbers, no model run), all written with COPY (``core/bulk.py``). A quote and paid orders
for the quote page and the provider payout report go through the real payment services.
``--scale`` shrinks every count (``--scale 0.01`` for a quick run).

Then serves the app with gunicorn on loopback and runs Locust headless against it: first at a
fixed moderate rate (``--rate`` requests/s in all), then stepping the rate up until some
page's p95 passes 150 ms. Prints, per endpoint, requests/s, p50, p95, p99 and errors, and
writes <dir>/results.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
P95_TARGET_MS = 150
WORDS = [
    "contract",
    "storage",
    "law",
    "model",
    "token",
    "river",
    "market",
    "data",
    "price",
    "clause",
    "court",
    "ledger",
    "text",
    "invoice",
    "policy",
    "audit",
    "sample",
    "valuation",
    "science",
    "history",
    "code",
    "python",
    "recipe",
    "travel",
]


def setup_django(bench_dir: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["VAR_DIR"] = str(bench_dir / "var")
    os.environ["STORAGE_ROOT"] = str(bench_dir / "var" / "storage")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def build(*, scale: float, bench_dir: Path) -> dict:
    """The marketplace's rows on DATABASE_URL (wiped first); returns what Locust needs."""
    setup_django(bench_dir)
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client
    from django.utils import timezone

    from accounts.services import user_create
    from core import bulk
    from marketplace.models import DatasetVersion, Listing, Sample, Tag, TargetTask
    from valuation.models import ListingSummary, SampleScore, ValuationJob
    from valuation.services.scores import job_summary_compute, job_summary_save

    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)
    n_listings = max(4, round(10_000 * scale))
    per_listing = 100
    n_buyers = max(2, round(1_000 * scale))
    n_providers = max(2, round(100 * scale))
    rng = random.Random(0)
    now = timezone.now()

    providers = [
        user_create(username=f"p{i}", email=f"p{i}@example.com", password=None, is_provider=True)
        for i in range(n_providers)
    ]
    buyers = [
        user_create(username=f"b{i}", email=f"b{i}@example.com", password=None, is_buyer=True)
        for i in range(n_buyers)
    ]
    tags = [Tag.objects.create(name=f"topic-{i}") for i in range(20)]
    with transaction.atomic():
        listing_ids = bulk.reserve_ids(model=Listing, count=n_listings)
        version_ids = bulk.reserve_ids(model=DatasetVersion, count=n_listings)
        listings = [
            Listing(
                pk=pk,
                provider=providers[i % n_providers],
                title=f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} corpus {i}",
                slug=f"corpus-{i}",
                description=" ".join(rng.choice(WORDS) for _ in range(40)),
                licence="MIT",
                floor_price_per_1k_tokens=rng.randint(1, 500),
                currency="usd",
                status=Listing.Status.PUBLISHED,
                listed_at=now - timedelta(minutes=i),
                published_at=now - timedelta(minutes=i),
                current_version_id=version_ids[i],  # written next; foreign keys are deferred
            )
            for i, pk in enumerate(listing_ids)
        ]
        bulk.copy_models(listings)
        versions = [
            DatasetVersion(
                pk=vid,
                listing_id=lid,
                number=1,
                original_filename="data.jsonl",
                format="jsonl",
                file_sha256="0" * 64,
                sample_count=per_listing,
                token_count=per_listing * 40,
                language="en",
                status=DatasetVersion.Status.READY,
                ready_at=now,
            )
            for lid, vid in zip(listing_ids, version_ids, strict=True)
        ]
        bulk.copy_models(versions)
        through = Listing.tags.through
        bulk.copy_rows(
            table=through._meta.db_table,
            columns=["listing_id", "tag_id"],
            rows=(
                (lid, tags[(i + k) % len(tags)].pk)
                for i, lid in enumerate(listing_ids)
                for k in (0, 7)
            ),
        )
    began = time.perf_counter()
    with transaction.atomic():
        first_sample = bulk.reserve_ids(model=Sample, count=1)[0]
        with connection.cursor() as cursor:  # the remaining ids in one step
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('marketplace_sample', 'id'), %s)",
                [first_sample + n_listings * per_listing],
            )
        bulk.copy_rows(
            table=Sample._meta.db_table,
            columns=[
                "id",
                "version_id",
                "position",
                "source_line",
                "external_id",
                "text",
                "token_count",
                "norm_hash",
                "minhash",
                "duplicate_kind",
            ],
            rows=(
                (
                    first_sample + i * per_listing + p,
                    vid,
                    p,
                    p + 1,
                    f"s{p}",
                    f"{i}-{p} " + " ".join(rng.choice(WORDS) for _ in range(30)),
                    40,
                    f"{i:032x}{p:032x}",
                    b"",
                    "",
                )
                for i, vid in enumerate(version_ids)
                for p in range(per_listing)
            ),
        )
    samples_s = time.perf_counter() - began
    task = TargetTask.objects.create(
        buyer=buyers[0], name="Contracts", status="ready", target_set_hash="f" * 64
    )
    job = ValuationJob.objects.create(
        buyer=buyers[0],
        task=task,
        target_set_hash="f" * 64,
        model_spec="smollm2-135m",
        label_fraction=0.1,
        status=ValuationJob.Status.SUCCEEDED,
        pool_size=n_listings * per_listing,
        started_at=now,
        finished_at=now,
    )
    began = time.perf_counter()
    with transaction.atomic():
        job.versions.add(*version_ids)
        first_score = bulk.reserve_ids(model=SampleScore, count=1)[0]
        bulk.copy_rows(
            table=SampleScore._meta.db_table,
            columns=["id", "job_id", "sample_id", "version_id", "score", "is_exact"],
            rows=(
                (
                    first_score + i * per_listing + p,
                    job.pk,
                    first_sample + i * per_listing + p,
                    vid,
                    rng.gauss(0.0, 1.0),
                    p % 10 == 0,
                )
                for i, vid in enumerate(version_ids)
                for p in range(per_listing)
            ),
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('valuation_samplescore', 'id'), %s)",
                [first_score + n_listings * per_listing],
            )
    scores_s = time.perf_counter() - began
    summary_began = time.perf_counter()
    with transaction.atomic():  # what the pipeline's last step writes
        job_summary_save(job=job, summary=job_summary_compute(job=job, version_ids=version_ids))
        job.save(update_fields=["summary"])
    summary_s = time.perf_counter() - summary_began
    with connection.cursor() as cursor:  # statistics and visibility map, as autovacuum would
        for model in (Listing, DatasetVersion, Sample, SampleScore, ListingSummary):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    quote_id = money(buyers=buyers, listings=listings, providers=providers)
    buyer_client, provider_client = Client(), Client()
    buyer_client.force_login(buyers[0])
    provider_client.force_login(providers[0])
    from django.conf import settings

    return {
        "counts": {
            "listings": n_listings,
            "samples": n_listings * per_listing,
            "buyers": n_buyers,
            "scores": n_listings * per_listing,
        },
        "build_seconds": {
            "samples": round(samples_s, 1),
            "scores": round(scores_s, 1),
            "summary": round(summary_s, 1),
        },
        "cookie_name": settings.SESSION_COOKIE_NAME,
        "buyer_session": buyer_client.cookies[settings.SESSION_COOKIE_NAME].value,
        "provider_session": provider_client.cookies[settings.SESSION_COOKIE_NAME].value,
        "slugs": [listing.slug for listing in listings[:: max(1, n_listings // 200)]],
        "tags": [tag.name for tag in tags],
        "job_id": job.pk,
        "deep_page": max(1, n_listings * per_listing // 50 // 2),
        "quote_id": quote_id,
    }


def money(*, buyers, listings, providers) -> int:
    """Paid orders (the payout report of provider 0) and one open quote, by the services."""
    from payments.pricing import CandidateSample, ListingTerms
    from payments.services.orders import (
        order_checkout_start,
        order_create_from_quote,
        order_test_payment_confirm,
    )
    from payments.services.quotes import ValuationMeta, quote_create

    meta = ValuationMeta(
        job_ref="bench",
        model_identity="bench",
        target_set_hash="f" * 64,
        method="alinfik",
        fidelity={},
        target_task_ref="bench",
    )

    def quote(buyer, chosen):
        samples = [
            CandidateSample(
                f"{listing.pk}-s{p}",
                str(listing.provider_id),
                str(listing.pk),
                str(listing.current_version_id),
                40,
                1 + p,
            )
            for listing in chosen
            for p in range(10)
        ]
        terms = [ListingTerms(str(x.pk), x.floor_price_per_1k_tokens, "usd") for x in chosen]
        return quote_create(
            buyer=buyer,
            samples_with_values=samples,
            listing_terms=terms,
            valuation_meta=meta,
            value_rate=100,
            fee_bps=1500,
        )

    mine = [x for x in listings if x.provider_id == providers[0].pk]
    for n, buyer in enumerate(buyers[1:21]):
        order = order_create_from_quote(
            quote_id=quote(buyer, mine[n % 5 : n % 5 + 5]).pk, buyer=buyer
        )
        order_checkout_start(order_id=order.pk, buyer=buyer)
        order_test_payment_confirm(order_id=order.pk, buyer=buyer)
    return quote(buyers[0], listings[:20]).pk


def built_before(*, targets: Path, scale: float, database: str) -> bool:
    """Whether the last build in this folder was of ``scale`` on ``database``. Its session
    cookies stay valid: sessions live in the database and the benchmark writes nothing else."""
    if not targets.exists():
        return False
    return json.loads(targets.read_text()).get("built_for") == {
        "scale": scale,
        "database": database,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(*, workers: int, bench_dir: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "VAR_DIR": str(bench_dir / "var"),
        "STORAGE_ROOT": str(bench_dir / "var" / "storage"),
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "PAYMENTS_TEST_MODE": "1",
        "API_THROTTLE_USER": "1000000/min",
        "API_THROTTLE_ANON": "1000000/min",
        "CONN_MAX_AGE": "60",
    }
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "config.wsgi",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, env=env, cwd=REPO)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def drive(*, port: int, rate: float, seconds: int, targets: Path, prefix: Path) -> list[dict]:
    """One headless Locust run at ``rate`` requests/s in all; per-endpoint figures."""
    users = max(1, round(rate / 2))  # each user makes 2 requests/s (locustfile)
    command = [
        str(Path(sys.executable).with_name("locust")),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        f"http://127.0.0.1:{port}",
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{seconds}s",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "ERROR",
    ]
    env = {**os.environ, "BENCH_TARGETS": str(targets), "BENCH_USER_RATE": "2"}
    subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    rows = []
    with open(f"{prefix}_stats.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                continue
            rows.append(
                {
                    "endpoint": row["Name"],
                    "requests": int(row["Request Count"]),
                    "rps": round(float(row["Requests/s"]), 1),
                    "p50": int(float(row["50%"] or 0)),
                    "p95": int(float(row["95%"] or 0)),
                    "p99": int(float(row["99%"] or 0)),
                    "errors": int(row["Failure Count"]),
                }
            )
    return sorted(rows, key=lambda r: r["endpoint"])


def table(rows: list[dict]) -> str:
    lines = [
        "| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['endpoint']} | {r['requests']} | {r['rps']} | {r['p50']} | {r['p95']} | "
            f"{r['p99']} | {r['errors']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL", ""))
    parser.add_argument("--scale", type=float, default=1.0, help="share of the full counts")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--rate", type=float, default=10.0, help="fixed rate, requests/s")
    parser.add_argument("--seconds", type=int, default=60, help="each Locust run")
    parser.add_argument("--max-steps", type=int, default=4, help="rate doublings after it")
    parser.add_argument("--dir", default=str(REPO / "var" / "bench-web"))
    parser.add_argument(
        "--reuse", action="store_true", help="serve the data the last build left, if same scale"
    )
    parser.add_argument("--child-build", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    bench_dir = Path(args.dir)
    bench_dir.mkdir(parents=True, exist_ok=True)
    targets = bench_dir / "targets.json"
    if args.child_build:
        began = time.perf_counter()
        built = build(scale=args.scale, bench_dir=bench_dir)
        built["build_seconds"]["total"] = round(time.perf_counter() - began, 1)
        built["built_for"] = {"scale": args.scale, "database": os.environ["DATABASE_URL"]}
        targets.write_text(json.dumps(built))
        return
    if not args.postgres:
        raise SystemExit("--postgres (a database of the benchmark's own) is required")
    os.environ["DATABASE_URL"] = args.postgres
    if not (args.reuse and built_before(targets=targets, scale=args.scale, database=args.postgres)):
        command = [sys.executable, __file__, "--child-build", "--scale", str(args.scale)]
        subprocess.run([*command, "--dir", str(bench_dir)], cwd=REPO, check=True)
    built = json.loads(targets.read_text())
    port = free_port()
    server = serve(workers=args.workers, bench_dir=bench_dir, port=port)
    runs = []
    try:  # a short unrecorded run first: workers import the app and warm their connections
        drive(port=port, rate=args.rate, seconds=5, targets=targets, prefix=bench_dir / "warm")
        rate = args.rate
        for step in range(args.max_steps + 1):
            prefix = bench_dir / f"locust-{step}"
            rows = drive(port=port, rate=rate, seconds=args.seconds, targets=targets, prefix=prefix)
            worst = max((r["p95"] for r in rows), default=0)
            runs.append({"rate": rate, "rows": rows, "worst_p95": worst})
            if worst > P95_TARGET_MS:
                break
            rate *= 2
    finally:
        server.terminate()
        server.wait(timeout=30)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    results = {"machine": machine, "workers": args.workers, **built, "runs": runs}
    for private in ("buyer_session", "provider_session", "built_for"):
        results.pop(private)
    (bench_dir / "results.json").write_text(json.dumps(results, indent=2))
    counts = built["counts"]
    print(
        f"{counts['listings']:,} listings, {counts['samples']:,} samples, {counts['buyers']:,} "
        f"buyers, {counts['scores']:,} scores; built in {built['build_seconds']} s; {machine}; "
        f"gunicorn {args.workers} workers\n"
    )
    print(f"Fixed rate {runs[0]['rate']:g} requests/s for {args.seconds} s:\n")
    print(table(runs[0]["rows"]))
    print("\n| offered req/s | worst p95 ms | errors |\n| ---: | ---: | ---: |")
    for run in runs:
        errors = sum(r["errors"] for r in run["rows"])
        print(f"| {run['rate']:g} | {run['worst_p95']} | {errors} |")


if __name__ == "__main__":
    main()
