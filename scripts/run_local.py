"""`make run`: the whole product on embedded defaults, in one command.

Migrates, collects the static files, seeds the demo data (which queues the demo buyer's
valuation job), starts a real Celery worker on the configured broker (the filesystem
transport under var/broker unless CELERY_BROKER_URL is set) and the web server (DEBUG off
unless DEBUG is set; WhiteNoise serves the static files), prints where to open it, and
stops the worker when the server stops. The worker computes the demo valuation in the
background; the banner links to its page.
"""

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = os.environ.get("RUN_HOST", "127.0.0.1")
PORT = os.environ.get("RUN_PORT", "8000")
# Wall time of the demo valuation with the embedded worker on a 2-core CPU, measured from a
# fresh database (README "Two commands"); its page shows a live estimate.
DEMO_VALUATION_MINUTES = "5 to 10"


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, check=True)


def var_dir() -> Path:
    return Path(os.environ.get("VAR_DIR", REPO_ROOT / "var"))


def worker_log_path() -> Path:
    return var_dir() / "worker.log"


def seed_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """seed_demo's environment: no embeddings queued at ingest, unless EMBED_AT_INGEST is set.

    The worker takes tasks in the order they were queued, so ingest-time embeddings of all
    6,500 demo samples would run before the demo valuation, which needs 2,088 of them: its
    own embedding step computes those, and any later valuation embeds what it still lacks.
    """
    return {"EMBED_AT_INGEST": "false", **environ}


def server_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The web server's environment: DEBUG off unless set, so a visitor sees the product's
    own error pages (a 404 with the site's navigation, not Django's list of URL patterns).
    Static files are then served by WhiteNoise from ``collectstatic``'s folder."""
    return {**environ, "DEBUG": environ.get("DEBUG", "false")}


def start_worker() -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        "default,gpu",
        "--concurrency",
        "2",
        "--loglevel",
        "WARNING",
        "-n",
        "embedded@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    log = worker_log_path().open("ab")
    return subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)


def demo_valuation_lines(seed_output: str, *, base_url: str, embedded: bool) -> list[str]:
    """Banner lines about the demo valuation, from seed_demo's "  valuation <path> <status>"."""
    for line in seed_output.splitlines():
        parts = line.split()
        if line.startswith("  valuation ") and len(parts) >= 3:
            path, status = parts[1], parts[2]
            break
    else:
        return []
    url = base_url.rstrip("/") + path
    lines = [f"  Demo valuation (log in as buyer): {url}"]
    if status == "succeeded":
        lines.append("    finished: results on that page and under Valuations in the header")
    elif status in ("failed", "cancelled"):
        lines.append(f"    {status}: open it to see why and retry it")
    elif embedded:
        lines.append(
            f"    {status}: the worker is computing it now, {DEMO_VALUATION_MINUTES} min on a "
            "2-core CPU;"
        )
        lines.append("    once finished, its results are on the buyer's pages and the home page")
    else:
        lines.append(f"    {status}: it runs once workers for queues default and gpu are up")
    return lines


def print_banner(seed_output: str, *, embedded: bool = True) -> None:
    url = f"http://{HOST}:{PORT}/"
    print("\n" + "=" * 72)
    print(f"  DataMarket is running at {url}")
    print(f"  API docs: {url}api/docs/    health: {url}healthz    admin: {url}admin/")
    print("  Demo logins (local demo passwords):")
    for line in seed_output.splitlines():
        if line.startswith(("  staff ", "  provider ", "  buyer ")):
            print("  " + line)
    for line in demo_valuation_lines(seed_output, base_url=url, embedded=embedded):
        print(line)
    print(f"  Worker log: {worker_log_path()}    Stop with Ctrl-C")
    print("=" * 72 + "\n", flush=True)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    var_dir().mkdir(parents=True, exist_ok=True)
    manage("migrate", "--noinput")
    manage("collectstatic", "--noinput", "--verbosity", "0")
    seeded = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"],
        cwd=REPO_ROOT,
        env=seed_environment(os.environ),
        check=True,
        capture_output=True,
        text=True,
    )
    print(seeded.stdout, end="")
    # With a real broker configured, workers are separate processes the operator runs.
    embedded = os.environ.get("CELERY_BROKER_URL", "filesystem://").startswith("filesystem://")
    worker = start_worker() if embedded else None
    if worker is None:
        print(
            "CELERY_BROKER_URL is set: start workers yourself, e.g.\n"
            "  celery -A config worker -Q default   and   celery -A config worker -Q gpu"
        )
    print_banner(seeded.stdout, embedded=embedded)
    try:
        server = subprocess.run(
            [sys.executable, "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"],
            cwd=REPO_ROOT,
            env=server_environment(os.environ),
        )
        return server.returncode
    except KeyboardInterrupt:
        return 0
    finally:
        if worker is not None:
            stop(worker)


def stop(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


if __name__ == "__main__":
    sys.exit(main())
