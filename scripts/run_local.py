"""`make run`: the whole product on embedded defaults, in one command.

Migrates, seeds the demo data, starts a real Celery worker on the configured broker (the
filesystem transport under var/broker unless CELERY_BROKER_URL is set) and the web server,
prints where to open it, and stops the worker when the server stops.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = os.environ.get("RUN_HOST", "127.0.0.1")
PORT = os.environ.get("RUN_PORT", "8000")


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, check=True)


def var_dir() -> Path:
    return Path(os.environ.get("VAR_DIR", REPO_ROOT / "var"))


def worker_log_path() -> Path:
    return var_dir() / "worker.log"


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


def print_banner(seed_output: str) -> None:
    url = f"http://{HOST}:{PORT}/"
    print("\n" + "=" * 72)
    print(f"  DataMarket is running at {url}")
    print(f"  API docs: {url}api/docs/    health: {url}healthz    admin: {url}admin/")
    print("  Demo logins (local demo passwords):")
    for line in seed_output.splitlines():
        if line.startswith(("  staff ", "  provider ", "  buyer ")):
            print("  " + line)
    print(f"  Worker log: {worker_log_path()}    Stop with Ctrl-C")
    print("=" * 72 + "\n", flush=True)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    var_dir().mkdir(parents=True, exist_ok=True)
    manage("migrate", "--noinput")
    seeded = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"],
        cwd=REPO_ROOT,
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
    print_banner(seeded.stdout)
    try:
        server = subprocess.run(
            [sys.executable, "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"],
            cwd=REPO_ROOT,
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
