"""The production profile is deployable; the default profile needs nothing configured."""

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "SECRET_", "STRIPE_", "PAYMENTS_"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "k3y-" + "x7Qp9" * 12,
    "ALLOWED_HOSTS": "market.example.com",
}
STRIPE = {"STRIPE_API_KEY": "sk_test_" + "a" * 24, "STRIPE_WEBHOOK_SECRET": "whsec_" + "b" * 24}


def test_production_profile_passes_check_deploy_with_no_warnings():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION, **STRIPE}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_profile_refuses_to_start_on_test_payments_without_the_switch():
    for missing in ("STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"):
        env = {**PRODUCTION, **{k: v for k, v in STRIPE.items() if k != missing}}
        result = run_manage("check", "--deploy", env=env)
        assert result.returncode != 0
        assert f"needs {missing} for real payments" in result.stderr
        assert "PAYMENTS_TEST_MODE=true" in result.stderr


def test_production_profile_runs_test_payments_only_when_switched_on():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={**PRODUCTION, "PAYMENTS_TEST_MODE": "true"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_profile_refuses_to_start_without_secret_key():
    result = run_manage(
        "check",
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "ALLOWED_HOSTS": "market.example.com",
        },
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_default_profile_flags_its_development_defaults_as_not_deployable():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={"DJANGO_SETTINGS_MODULE": "config.settings.base"},
    )
    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout  # DEBUG on


def _settings_in_a_fresh_process(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # The product's own variables are left out (CI sets a broker and a database), so each
    # test sees the defaults plus exactly what it passes.
    own = ("DJANGO_", "VALUATION_", "CELERY_", "DATABASE_", "PAYMENTS_", "INGEST_", "STORAGE_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings.base", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_importing_the_settings_creates_no_folder(tmp_path):
    var = tmp_path / "var"
    result = _settings_in_a_fresh_process(
        "import config.settings.base as s; print(s.VAR_DIR)", {"VAR_DIR": str(var)}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(var)
    assert not var.exists()


def test_django_startup_creates_the_local_folders(tmp_path):
    var = tmp_path / "var"
    result = _settings_in_a_fresh_process("import django; django.setup()", {"VAR_DIR": str(var)})
    assert result.returncode == 0, result.stderr
    assert (var / "staticfiles").is_dir() and (var / "broker" / "out").is_dir()


def test_app_settings_come_from_the_environment_in_every_process(tmp_path):
    code = (
        "import django; django.setup()\n"
        "from marketplace import conf as m; from payments import conf as p\n"
        "from valuation import conf as v\n"
        "print(v.max_length(), v.proxy_hidden_dims(), v.redispatch_on_worker_start(),"
        " m.ingest_batch_size(), m.supported_currencies(), p.max_webhook_attempts())"
    )
    defaults = _settings_in_a_fresh_process(code, {"VAR_DIR": str(tmp_path)})
    configured = _settings_in_a_fresh_process(
        code,
        {
            "VAR_DIR": str(tmp_path),
            "VALUATION_MAX_LENGTH": "64",
            "VALUATION_PROXY_HIDDEN_DIMS": "32,8",
            "VALUATION_REDISPATCH_ON_WORKER_START": "false",
            "INGEST_BATCH_SIZE": "7",
            "SUPPORTED_CURRENCIES": "usd,jpy",
            "PAYMENTS_MAX_WEBHOOK_ATTEMPTS": "9",
        },
    )
    assert defaults.stdout.split("\n")[-2] == "256 (512, 128) True 1000 ('usd', 'eur', 'gbp') 5"
    assert configured.stdout.split("\n")[-2] == "64 (32, 8) False 7 ('usd', 'jpy') 9"


def test_the_cache_is_per_process_by_default_and_shared_through_cache_url(tmp_path):
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings; from marketplace import conf\n"
        "print(settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1],"
        " settings.CACHES['default'].get('LOCATION', ''), conf.catalogue_facets_cache_seconds())"
    )
    defaults = _settings_in_a_fresh_process(code, {"VAR_DIR": str(tmp_path)})
    shared = _settings_in_a_fresh_process(
        code,
        {
            "VAR_DIR": str(tmp_path),
            "CACHE_URL": "rediscache://127.0.0.1:6379/1",
            "CATALOGUE_FACETS_CACHE_SECONDS": "0",
        },
    )
    assert defaults.stdout.split("\n")[-2] == "LocMemCache  60"
    assert shared.stdout.split("\n")[-2] == "RedisCache redis://127.0.0.1:6379/1 0"
