"""Benchmark: ingest rows/s, COPY (PostgreSQL) against bulk INSERTs, side by side on one file.

    .venv/bin/python benchmarks/bench_ingest.py --rows 100000 \\
        --postgres postgres://postgres@127.0.0.1:5432/dm_bench_ingest

Writes one JSON-lines file of ``--rows`` distinct samples (20 to 60 words drawn from a seeded
vocabulary of 20,000 made-up words; every fifth row a prompt/response pair), then ingests it
three times, each in a fresh process on fresh tables:

* PostgreSQL, COPY (the default there: INGEST_WRITE_METHOD=auto)
* PostgreSQL, bulk INSERTs (INGEST_WRITE_METHOD=insert)
* SQLite, bulk INSERTs (the embedded default)

Each run goes through ``version_upload`` as a provider's upload does (validation, token
counts, fingerprints, the writes, duplicate detection) and reports the whole ingest's rows/s
and, separately, the seconds spent in the batch writes alone (``_write_batch``), where COPY
and INSERT differ. The PostgreSQL database given must be one of the benchmark's own: its
``public`` schema is dropped and migrated again before each run. Results go to
<dir>/results.json and are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "fi", "gu", "he")


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """Pronounceable made-up words: a vocabulary large enough that unrelated rows share few
    word 3-shingles, as real text does (a tiny vocabulary floods near-duplicate detection)."""
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def write_file(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    words_of = vocabulary(20_000, rng)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            words = [rng.choice(words_of) for _ in range(rng.randint(20, 60))]
            if i % 5 == 4:
                cut = len(words) // 3
                record = {
                    "id": f"r{i}",
                    "prompt": " ".join(words[:cut]) + f" {i}?",
                    "response": " ".join(words[cut:]),
                }
            else:
                record = {"id": f"r{i}", "text": f"{i} " + " ".join(words)}
            handle.write(json.dumps(record) + "\n")


def child(args: argparse.Namespace) -> None:
    """One ingest, in this process, on the database of DATABASE_URL (wiped first)."""
    bench_dir = Path(args.dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["VAR_DIR"] = str(bench_dir / "var")
    os.environ["STORAGE_ROOT"] = str(bench_dir / "var" / "storage")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ["EMBED_AT_INGEST"] = "0"
    os.environ["DEBUG"] = "0"  # DEBUG keeps every SQL statement in memory
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)
    settings.INGEST_WRITE_METHOD = args.method

    from accounts.services import user_create
    from marketplace.models import DatasetVersion, Sample, SampleBand
    from marketplace.services import versions
    from marketplace.services.listings import listing_create

    write_seconds = 0.0
    original = versions._write_batch

    def timed_write(samples, keys):
        nonlocal write_seconds
        began = time.perf_counter()
        original(samples, keys)
        write_seconds += time.perf_counter() - began

    versions._write_batch = timed_write
    provider = user_create(
        username="bench", email="bench@example.com", password="bench-pass-123", is_provider=True
    )
    listing = listing_create(
        provider=provider, title="Bench", licence="MIT", floor_price_per_1k_tokens=1
    )
    began = time.perf_counter()
    with open(args.file, "rb") as handle:
        version = versions.version_upload(
            listing=listing, actor=provider, file=handle, filename="bench.jsonl", inline=True
        )
    total = time.perf_counter() - began
    if version.status != DatasetVersion.Status.READY:
        raise SystemExit(f"ingest did not finish: {version.status} {version.error}")
    rows = Sample.objects.filter(version=version).count()
    print(
        json.dumps(
            {
                "vendor": connection.vendor,
                "method": args.method,
                "copy": versions.conf.ingest_uses_copy(),
                "rows": rows,
                "bands": SampleBand.objects.count(),
                "seconds": round(total, 2),
                "rows_per_s": round(rows / total),
                "write_seconds": round(write_seconds, 2),
                "write_rows_per_s": round(rows / write_seconds),
            }
        )
    )


def run_child(args, *, database_url: str, method: str) -> dict:
    env = {**os.environ, "DATABASE_URL": database_url}
    command = [
        sys.executable,
        __file__,
        "--child",
        "--dir",
        args.dir,
        "--file",
        args.file,
        "--method",
        method,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(result.stdout + result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dir", default=str(REPO / "var" / "bench-ingest"))
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", ""),
        help="a PostgreSQL database of the benchmark's own (wiped)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--file", default="", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    bench_dir = Path(args.dir)
    bench_dir.mkdir(parents=True, exist_ok=True)
    args.file = str(bench_dir / f"rows-{args.rows}.jsonl")
    if not Path(args.file).exists():
        write_file(Path(args.file), args.rows)
    runs = []
    if args.postgres:
        runs.append(run_child(args, database_url=args.postgres, method="auto"))
        runs.append(run_child(args, database_url=args.postgres, method="insert"))
    else:
        print("no --postgres given: SQLite only", file=sys.stderr)
    sqlite = bench_dir / "bench.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite}{suffix}").unlink(missing_ok=True)
    runs.append(run_child(args, database_url=f"sqlite:///{sqlite}", method="auto"))
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    results = {
        "rows": args.rows,
        "file_bytes": Path(args.file).stat().st_size,
        "machine": machine,
        "runs": runs,
    }
    (bench_dir / "results.json").write_text(json.dumps(results, indent=2))
    print(f"{args.rows:,} rows, {results['file_bytes']:,} bytes; {machine}\n")
    print("| database | writes | ingest rows/s | ingest s | write s | write rows/s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for run in runs:
        writes = "COPY" if run["copy"] else "bulk INSERT"
        print(
            f"| {run['vendor']} | {writes} | {run['rows_per_s']:,} | {run['seconds']} | "
            f"{run['write_seconds']} | {run['write_rows_per_s']:,} |"
        )


if __name__ == "__main__":
    main()
