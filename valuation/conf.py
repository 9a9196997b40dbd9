"""Valuation settings, typed. Each is read from ``django.conf.settings`` when called (so the
``settings`` fixture overrides it in tests); config/settings/base.py reads them from the
environment and documents their defaults.
"""

from __future__ import annotations

import os

from django.conf import settings

DEFAULT_MODEL = "smollm2-135m"


def models() -> dict[str, str]:
    """Models a buyer may choose, name -> label."""
    return dict(settings.VALUATION_MODELS)


def local_model_dir() -> str:
    return str(settings.VALUATION_LOCAL_MODEL_DIR or "")


def encoder_dir() -> str:
    return str(settings.VALUATION_ENCODER_DIR or "")


def model_dtype() -> str:
    return str(settings.VALUATION_MODEL_DTYPE)


def device() -> str:
    """``VALUATION_DEVICE``: cuda, cpu or auto (cuda when available)."""
    return str(settings.VALUATION_DEVICE or "auto")


def landing_demo_valuation() -> bool:
    """Whether the home page shows the demo buyer's latest finished valuation."""
    return bool(settings.LANDING_DEMO_VALUATION)


def max_length() -> int:
    return int(settings.VALUATION_MAX_LENGTH)


def exact_batch_size() -> int:
    return int(settings.VALUATION_EXACT_BATCH_SIZE)


def exact_chunk_size() -> int:
    return int(settings.VALUATION_EXACT_CHUNK_SIZE)


def embed_chunk_size() -> int:
    return int(settings.VALUATION_EMBED_CHUNK_SIZE)


def proxy_chunk_size() -> int:
    return int(settings.VALUATION_PROXY_CHUNK_SIZE)


def write_batch_size() -> int:
    return int(settings.VALUATION_WRITE_BATCH_SIZE)


def read_batch_size() -> int:
    return int(settings.VALUATION_READ_BATCH_SIZE)


def embed_batch_size() -> int:
    return int(settings.VALUATION_EMBED_BATCH_SIZE)


def max_interruptions() -> int:
    return int(settings.VALUATION_MAX_INTERRUPTIONS)


def gate_retry_seconds() -> int:
    return int(settings.VALUATION_GATE_RETRY_SECONDS)


def gate_max_retries() -> int:
    return int(settings.VALUATION_GATE_MAX_RETRIES)


def cancel_check_seconds() -> float:
    return float(settings.VALUATION_CANCEL_CHECK_SECONDS)


def histogram_bins() -> int:
    return int(settings.VALUATION_HISTOGRAM_BINS)


def keep_target_gradient() -> bool:
    return bool(settings.VALUATION_KEEP_TARGET_GRADIENT)


def proxy_hidden_dims() -> tuple[int, ...]:
    return tuple(int(width) for width in settings.VALUATION_PROXY_HIDDEN_DIMS)


def proxy_folds() -> int:
    return int(settings.VALUATION_PROXY_FOLDS)


def proxy_repeats() -> int:
    return int(settings.VALUATION_PROXY_REPEATS)


def proxy_max_epochs() -> int:
    return int(settings.VALUATION_PROXY_MAX_EPOCHS)


def proxy_patience() -> int:
    return int(settings.VALUATION_PROXY_PATIENCE)


def proxy_token_features() -> bool:
    return bool(settings.VALUATION_PROXY_TOKEN_FEATURES)


def proxy_layers() -> int:
    return int(settings.VALUATION_PROXY_LAYERS)


def model_choices() -> dict[str, str]:
    """Model specs a buyer may request, spec -> label."""
    choices = models()
    local = local_model_dir()
    if local:
        choices["local"] = f"Local model ({os.path.basename(local.rstrip('/')) or local})"
    return choices


def model_source(spec: str) -> str:
    """The engine's model source for a spec: a known name, or the local directory."""
    if spec == "local":
        local = local_model_dir()
        if not local:
            raise ValueError("no local model directory is configured (VALUATION_LOCAL_MODEL_DIR)")
        return local
    return spec


def redispatch_on_worker_start() -> bool:
    """Unset (None): only on the embedded broker, which cannot redeliver by itself."""
    value = settings.VALUATION_REDISPATCH_ON_WORKER_START
    if value is None:
        return bool(settings.CELERY_EMBEDDED_BROKER)
    return bool(value)


def test_step_sleep() -> tuple[str, int, float] | None:
    """Test hook: ``VALUATION_TEST_STEP_SLEEP=stage:index:seconds`` makes that step sleep on
    its first attempt, so a test can kill the worker mid-chunk. Unset in production."""
    raw = settings.VALUATION_TEST_STEP_SLEEP
    if not raw:
        return None
    stage, index, seconds = raw.split(":")
    return stage, int(index), float(seconds)
