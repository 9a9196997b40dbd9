"""ALinFiK: value a whole pool from exact LinFiK labels on a small stratified sample.

Pipeline: pick a stratified random fraction of the pool, label it with exact LinFiK
(``label_fn``), fit the proxy and predict every unlabelled sample. Labelled samples keep
their exact scores.

The proxy is cross-fitted by default: the labels are cut into K folds; member k trains on
the other folds (early-stopped on a validation slice of them) and predicts fold k, which
it never saw. Fidelity is then measured on every label rather than on one small holdout,
and the pool is scored by the mean of the K members, each of which learnt from (K-1)/K
of the labels. The cut is repeated R times (``repeats``, default 3) with fresh shuffles:
R x K members, each label held out from R of them, whose mean is its held-out prediction.
That narrows the spread of the fidelity figures between seeds (docs/benchmarks.md) and
costs only head training and inference. ``folds=1`` is the single train / validation /
holdout split (the only mode that fine-tunes the encoder, which would otherwise cost K
encoders).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from valuation.engine.crossfit import (
    DEFAULT_FOLDS,
    DEFAULT_REPEATS,
    DEFAULT_SPLIT,
    LabelSplit,
    label_splits,
)
from valuation.engine.data import Sample
from valuation.engine.embeddings import SentenceEncoder
from valuation.engine.fit import FinetuneInputs, ProxyProvenance, fit_proxy, split_fidelity
from valuation.engine.heads import HeadConfig, feature_statistics, length_column, proxy_inputs
from valuation.engine.labels import LabelFn, call_label_fn, resolve_strata, stratified_selection
from valuation.engine.proxy import LinFiKProxy
from valuation.engine.training import TrainConfig, TrainingReport

__all__ = ["AlinfikOptions", "AlinfikResult", "PoolFeatures", "run_alinfik"]


@dataclass(frozen=True)
class AlinfikOptions:
    """How ALinFiK labels, trains and records (see ``run_alinfik``)."""

    label_fraction: float = 0.1
    seed: int = 0
    # > 1 cross-fits that many members in ``repeats`` rounds (default DEFAULT_REPEATS);
    # 1 splits the labels once by ``split_fractions``.
    folds: int = DEFAULT_FOLDS
    repeats: int | None = None
    split_fractions: tuple[float, float, float] = DEFAULT_SPLIT
    # Also tune the encoder's last layers (``train_config``); costs an encoder pass per task.
    finetune_encoder: bool = False
    head_config: HeadConfig | None = None
    train_config: TrainConfig | None = None
    # Recorded in the proxy's metadata.
    model_identity: str = ""
    target_hash: str = ""
    embed_batch_size: int = 64
    progress: bool = False


@dataclass(frozen=True, eq=False)
class PoolFeatures:
    """Per-sample inputs already at hand (rows in sample order); what is missing is computed.

    ``embeddings`` and ``token_counts`` (e.g. from the ingest-time store, made by the encoder
    named by ``encoder_identity``) skip the encoder. ``extra_features`` [N, k] (e.g.
    ``token_features.py``'s, named by ``extra_feature_name`` in the proxy's metadata) are
    appended to the head's inputs; they work with the frozen encoder only. ``strata``
    default to length quantiles.
    """

    embeddings: np.ndarray | None = None
    token_counts: Sequence[int] | None = None
    extra_features: np.ndarray | None = None
    extra_feature_name: str = ""
    strata: Sequence[str] | None = None
    encoder_identity: str | None = None


@dataclass
class AlinfikResult:
    """Scores for every sample (input order) and how they were obtained.

    ``splits`` has one entry per proxy member (positions into ``labelled_indices``);
    ``heldout_predictions[i]`` is the proxy's score for label i from a member that never
    saw it (NaN for labels no member held out, i.e. train and validation with folds=1):
    the fidelity figures compare these with the exact labels.
    """

    scores: np.ndarray
    is_exact: np.ndarray
    fidelity: dict[str, float]
    labelled_indices: np.ndarray
    splits: list[LabelSplit]
    heldout_predictions: np.ndarray
    proxy: LinFiKProxy
    training: TrainingReport
    timings: dict[str, float] = field(default_factory=dict)


def _validated_embeddings(embeddings: np.ndarray, n_samples: int) -> np.ndarray:
    if embeddings.ndim != 2 or embeddings.shape[0] != n_samples:
        raise ValueError(
            f"embeddings have shape {embeddings.shape}; expected one row per sample ({n_samples})"
        )
    return embeddings


@dataclass(frozen=True)
class _PoolInputs:
    """What the head reads for each sample, with the head that reads it."""

    texts: list[str]
    embeddings: np.ndarray
    token_counts: np.ndarray | None
    extra_features: np.ndarray | None
    head_config: HeadConfig
    max_length: int

    def rows(self, indices: np.ndarray) -> np.ndarray:
        counts = None if self.token_counts is None else self.token_counts[indices]
        extra = None if self.extra_features is None else self.extra_features[indices]
        return proxy_inputs(
            self.embeddings[indices], counts, self.head_config, self.max_length, extra
        )

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Input standardisation from the whole pool: label-free, so no holdout leaks in."""
        blocks = [self.embeddings]
        if self.token_counts is not None:
            blocks.append(length_column(self.token_counts, self.max_length))
        if self.extra_features is not None:
            blocks.append(self.extra_features)
        stats = [feature_statistics(block) for block in blocks]
        return np.concatenate([m for m, _ in stats]), np.concatenate([s for _, s in stats])


def _validated_extra(extra_features: np.ndarray | None, n_samples: int) -> np.ndarray | None:
    if extra_features is None:
        return None
    extra = np.asarray(extra_features, dtype=np.float32)
    if extra.ndim != 2 or extra.shape[0] != n_samples or extra.shape[1] < 1:
        raise ValueError(
            f"extra_features have shape {extra.shape}; expected one row per sample ({n_samples})"
        )
    if not np.all(np.isfinite(extra)):
        row = int(np.flatnonzero(~np.isfinite(extra).all(axis=1))[0])
        raise ValueError(f"extra_features row {row} has a non-finite value")
    return extra


def _pool_inputs(
    samples: Sequence[Sample],
    embeddings: np.ndarray | None,
    token_counts: Sequence[int] | None,
    extra_features: np.ndarray | None,
    encoder: SentenceEncoder | None,
    head_config: HeadConfig | None,
    config: TrainConfig,
    batch_size: int,
    progress: bool,
) -> _PoolInputs:
    texts = [sample.display_text for sample in samples]
    if embeddings is None:
        assert encoder is not None
        embeddings = encoder.encode(texts, batch_size, config.max_length, progress=progress)
    embeddings = _validated_embeddings(embeddings, len(samples))
    extra = _validated_extra(extra_features, len(samples))
    head_config = head_config or HeadConfig(
        input_dim=embeddings.shape[1],
        length_feature=True,
        extra_dim=0 if extra is None else extra.shape[1],
    )
    if head_config.extra_dim != (0 if extra is None else extra.shape[1]):
        raise ValueError(
            f"head_config.extra_dim is {head_config.extra_dim} but extra_features have "
            f"{0 if extra is None else extra.shape[1]} columns"
        )
    counts = None
    if head_config.length_feature:
        if token_counts is None:
            assert encoder is not None
            token_counts = encoder.token_counts(texts)
        counts = np.asarray(token_counts, dtype=np.int64)
        if counts.shape != (len(samples),):
            raise ValueError(f"{len(counts)} token counts for {len(samples)} samples")
    return _PoolInputs(texts, embeddings, counts, extra, head_config, config.max_length)


def run_alinfik(
    *,
    samples: Sequence[Sample],
    label_fn: LabelFn,
    options: AlinfikOptions = AlinfikOptions(),  # noqa: B008 (frozen, so safe to share)
    features: PoolFeatures = PoolFeatures(),  # noqa: B008
    encoder: SentenceEncoder | None = None,
) -> AlinfikResult:
    """Score every sample: exact LinFiK on a stratified sample, the proxy on the rest.

    ``label_fn(indices)`` must return exact LinFiK scores for those sample indices.
    ``encoder`` (default: packaged MiniLM) computes what ``features`` lacks. The default
    head reads the embedding plus a length feature.
    """
    if not samples:
        raise ValueError("run_alinfik needs at least one sample")
    if features.extra_features is not None and options.finetune_encoder:
        raise ValueError("extra_features work with the frozen encoder only; drop finetune_encoder")
    if options.finetune_encoder and options.folds != 1:
        raise ValueError("fine-tuning trains one encoder on one split: pass folds=1")
    repeats = options.repeats
    if repeats is None:
        repeats = DEFAULT_REPEATS if options.folds > 1 else 1
    config = options.train_config or TrainConfig()
    head_config = options.head_config
    strata_labels = resolve_strata(samples, features.strata)
    needs_counts = features.token_counts is None and (
        head_config is None or head_config.length_feature
    )
    if features.embeddings is None or needs_counts or options.finetune_encoder:
        encoder = encoder or SentenceEncoder()
    timings: dict[str, float] = {}

    started = time.perf_counter()
    pool = _pool_inputs(
        samples,
        features.embeddings,
        features.token_counts,
        features.extra_features,
        encoder,
        head_config,
        config,
        options.embed_batch_size,
        options.progress,
    )
    timings["embed_seconds"] = time.perf_counter() - started

    seed = options.seed
    labelled = stratified_selection(strata_labels, options.label_fraction, seed)
    # Split before labelling, so too few labels fail before any exact scoring is paid for.
    splits = label_splits(len(labelled), options.folds, seed, options.split_fractions, repeats)
    started = time.perf_counter()
    exact = call_label_fn(label_fn, labelled)
    timings["label_seconds"] = time.perf_counter() - started

    finetune = None
    if options.finetune_encoder:
        assert encoder is not None
        counts = None if pool.token_counts is None else pool.token_counts[labelled]
        finetune = FinetuneInputs(encoder, [pool.texts[i] for i in labelled], counts)
    identity = encoder.identity if encoder is not None else (features.encoder_identity or "unknown")
    fitted = fit_proxy(
        inputs=pool.rows(labelled),
        labels=exact,
        splits=splits,
        repeats=repeats,
        head_config=pool.head_config,
        config=config,
        seed=seed,
        encoder_identity=identity,
        provenance=ProxyProvenance(
            model_identity=options.model_identity,
            target_hash=options.target_hash,
            seed=seed,
            label_fraction=options.label_fraction,
            extra_features=features.extra_feature_name if pool.extra_features is not None else "",
        ),
        input_statistics=pool.statistics(),
        finetune=finetune,
    )
    timings["train_seconds"] = fitted.report.seconds
    proxy = fitted.proxy

    started = time.perf_counter()
    if proxy.encoder is not None:
        scores = proxy.predict_texts(pool.texts, batch_size=options.embed_batch_size)
    else:
        scores = proxy.predict(
            pool.embeddings, pool.token_counts, extra_features=pool.extra_features
        )
    timings["predict_seconds"] = time.perf_counter() - started

    heldout = fitted.heldout
    if heldout is None:  # fine-tuned: the tuned proxy's scores of the one holdout
        heldout = np.full(len(labelled), np.nan)
        heldout[splits[0].holdout] = scores[labelled[splits[0].holdout]]
        proxy.metadata.fidelity = split_fidelity(
            exact, heldout, n_splits=len(splits), repeats=repeats
        )
    scores[labelled] = exact
    is_exact = np.zeros(len(samples), dtype=bool)
    is_exact[labelled] = True
    return AlinfikResult(
        scores=scores,
        is_exact=is_exact,
        fidelity=dict(proxy.metadata.fidelity),
        labelled_indices=labelled,
        splits=splits,
        heldout_predictions=heldout,
        proxy=proxy,
        training=fitted.report,
        timings=timings,
    )
