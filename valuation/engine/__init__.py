"""Valuation engine: exact LinFiK scoring and its ALinFiK proxy (plain torch, no Django).

Featurize, then score::

    loaded = load_model("smollm2-135m", device="auto")
    scorer = ExactLinFiK(loaded.model, loaded.tokenizer, max_length=256)
    target = scorer.target_gradient(read_samples("target.jsonl"))
    scores = scorer.score(read_samples("train.jsonl"), target)

The ALinFiK half (``valuation.engine.alinfik.run_alinfik``) is imported by the CLI only
when asked for, so this package imports without it.
"""

from valuation.engine.analysis import (
    StabilityReport,
    checkpoint_stability,
    gradient_cosines,
    per_sample_gradient_norms,
    rank_correlation,
)
from valuation.engine.data import (
    EmptySampleError,
    Sample,
    SampleFileError,
    TokenizedSample,
    collate,
    read_samples,
    tokenize_sample,
)
from valuation.engine.exact import ExactLinFiK, TargetGradient, per_sample_loss, select_parameters
from valuation.engine.models import LoadedModel, ModelLoadError, load_model, wrap_model

__all__ = [
    "EmptySampleError",
    "ExactLinFiK",
    "LoadedModel",
    "ModelLoadError",
    "Sample",
    "SampleFileError",
    "StabilityReport",
    "TargetGradient",
    "TokenizedSample",
    "checkpoint_stability",
    "collate",
    "gradient_cosines",
    "load_model",
    "per_sample_gradient_norms",
    "per_sample_loss",
    "rank_correlation",
    "read_samples",
    "select_parameters",
    "tokenize_sample",
    "wrap_model",
]
