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
