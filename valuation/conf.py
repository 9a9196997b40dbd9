"""Valuation settings: a Django setting of the same name wins, then an environment variable
of the same name (how a worker process is configured), then the default below.

Read them through ``get(name)`` so tests can override with the ``settings`` fixture.
"""

from __future__ import annotations

import json
import os

from django.conf import settings

DEFAULT_MODEL = "smollm2-135m"

DEFAULTS: dict[str, object] = {
    # Models a buyer may choose, name -> label. Buyers never pass a file path: a local model
    # directory is only offered when the operator sets VALUATION_LOCAL_MODEL_DIR.
    "VALUATION_MODELS": {DEFAULT_MODEL: "SmolLM2-135M (default)"},
    # A small local Hugging Face model directory for demos and tests; offered as "local".
    "VALUATION_LOCAL_MODEL_DIR": "",
    # Sentence encoder directory for the proxy; "" = the packaged all-MiniLM-L6-v2.
    "VALUATION_ENCODER_DIR": "",
    "VALUATION_MODEL_DTYPE": "float32",
    # Exact LinFiK: tokens kept per sample and samples per forward-mode batch.
    "VALUATION_MAX_LENGTH": 256,
    "VALUATION_EXACT_BATCH_SIZE": 8,
    # Samples per chunk (one Celery task, one row in ValuationChunk) in each stage.
    "VALUATION_EXACT_CHUNK_SIZE": 256,
    "VALUATION_EMBED_CHUNK_SIZE": 2_000,
    "VALUATION_PROXY_CHUNK_SIZE": 50_000,
    # Rows per INSERT ... ON CONFLICT statement and per streamed page.
    "VALUATION_WRITE_BATCH_SIZE": 2_000,
    "VALUATION_READ_BATCH_SIZE": 5_000,
    "VALUATION_EMBED_BATCH_SIZE": 64,
    # A chunk found interrupted (its worker died) this many times in one run fails the job.
    "VALUATION_MAX_INTERRUPTIONS": 3,
    # A step whose earlier stages are not finished yet waits this long, this often, then fails.
    "VALUATION_GATE_RETRY_SECONDS": 2,
    "VALUATION_GATE_MAX_RETRIES": 1_800,
    # Re-send the task of a step whose worker died, when a worker starts. Needed where the
    # broker cannot redeliver unacknowledged messages (the filesystem transport deletes a
    # message once read); Redis redelivers by itself after the visibility timeout.
    "VALUATION_REDISPATCH_ON_WORKER_START": None,  # None: only on the embedded broker
    # A running step reads its job's status at most this often, between batches of model
    # work, and stops once the job was cancelled.
    "VALUATION_CANCEL_CHECK_SECONDS": 1.0,
    "VALUATION_HISTOGRAM_BINS": 20,
    "VALUATION_KEEP_TARGET_GRADIENT": False,
    "VALUATION_PROXY_HIDDEN_DIMS": (512, 128),
    # Cross-fitted proxy members (engine alinfik.py): each label is held out from one, so
    # fidelity is measured on every label; 1 = one train/validation/holdout split.
    "VALUATION_PROXY_FOLDS": 5,
    # Rounds of cross-fitting with fresh shuffles (folds x repeats members; a label's
    # held-out prediction is the mean of the members that held it out). Ignored for 1 fold.
    "VALUATION_PROXY_REPEATS": 3,
    "VALUATION_PROXY_MAX_EPOCHS": 300,
    "VALUATION_PROXY_PATIENCE": 30,
    # The proxy also reads the scored model's token features (engine token_features.py):
    # mean input-embedding row of the predicted tokens + log count. False: embeddings only.
    "VALUATION_PROXY_TOKEN_FEATURES": True,
    # The proxy also reads the scored model's hidden state after this many decoder layers
    # (engine layer_features.py; capped at the model's layer count), stored once per
    # (sample, model) like the sentence embedding. 0: off.
    "VALUATION_PROXY_LAYERS": 4,
}


def _from_env(name: str, default: object) -> object:
    raw = os.environ[name]
    if isinstance(default, bool) or default is None:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, tuple):
        return tuple(int(part) for part in raw.split(",") if part.strip())
    if isinstance(default, dict):
        return json.loads(raw)
    return raw


def get(name: str):
    """A Django setting of that name, else the environment variable, else the default."""
    if name not in DEFAULTS:
        raise KeyError(f"unknown valuation setting {name!r}")
    if hasattr(settings, name):
        return getattr(settings, name)
    if name in os.environ:
        return _from_env(name, DEFAULTS[name])
    return DEFAULTS[name]


def model_choices() -> dict[str, str]:
    """Model specs a buyer may request, spec -> label."""
    choices = dict(get("VALUATION_MODELS"))
    local = str(get("VALUATION_LOCAL_MODEL_DIR") or "")
    if local:
        choices["local"] = f"Local model ({os.path.basename(local.rstrip('/')) or local})"
    return choices


def model_source(spec: str) -> str:
    """The engine's model source for a spec: a known name, or the local directory."""
    if spec == "local":
        local = str(get("VALUATION_LOCAL_MODEL_DIR") or "")
        if not local:
            raise ValueError("no local model directory is configured (VALUATION_LOCAL_MODEL_DIR)")
        return local
    return spec


def redispatch_on_worker_start() -> bool:
    value = get("VALUATION_REDISPATCH_ON_WORKER_START")
    if value is None:
        return bool(getattr(settings, "CELERY_EMBEDDED_BROKER", False))
    return bool(value)


def test_step_sleep() -> tuple[str, int, float] | None:
    """Test hook: ``VALUATION_TEST_STEP_SLEEP=stage:index:seconds`` makes that step sleep on
    its first attempt, so a test can kill the worker mid-chunk. Unset in production."""
    raw = os.environ.get("VALUATION_TEST_STEP_SLEEP", "")
    if not raw:
        return None
    stage, index, seconds = raw.split(":")
    return stage, int(index), float(seconds)
