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

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from valuation.engine.data import Sample
from valuation.engine.embeddings import SentenceEncoder
from valuation.engine.metrics import kendall_tau, precision_at_k_fraction, spearman
from valuation.engine.proxy import (
    EnsembleHead,
    HeadConfig,
    LinFiKProxy,
    ProxyMetadata,
    RegressionHead,
    TargetScaler,
    TrainConfig,
    TrainingReport,
    feature_statistics,
    length_column,
    proxy_inputs,
    single_thread,
    train_finetuned,
    train_head,
)

__all__ = [
    "DEFAULT_FOLDS",
    "DEFAULT_REPEATS",
    "MIN_LABELS",
    "AlinfikResult",
    "HeadFit",
    "LabelSplit",
    "cross_fit_splits",
    "fit_head",
    "heldout_fidelity",
    "fidelity_report",
    "length_strata",
    "run_alinfik",
    "split_labelled",
    "label_splits",
    "stratified_selection",
]

# Train, validation and holdout each need at least two items for a rank correlation.
MIN_LABELS = 6
DEFAULT_SPLIT = (0.6, 0.2, 0.2)
# Five cross-fitted members beat one split on the demo pool (docs/benchmarks.md).
DEFAULT_FOLDS = 5
DEFAULT_REPEATS = 3  # rounds of cross-fitting (with folds > 1)
CROSS_FIT_VALIDATION = 0.25
LabelFn = Callable[[Sequence[int]], np.ndarray]


def length_strata(samples: Sequence[Sample], n_buckets: int = 4) -> np.ndarray:
    """Quantile buckets of word count ("length-q0" shortest ... ), used when no strata are given."""
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be at least 1, got {n_buckets}")
    lengths = np.array([len(sample.display_text.split()) for sample in samples], dtype=np.float64)
    edges = np.quantile(lengths, np.linspace(0.0, 1.0, n_buckets + 1)[1:-1])
    buckets = np.searchsorted(edges, lengths, side="right")
    return np.array([f"length-q{bucket}" for bucket in buckets], dtype=object)


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _allocate(sizes: dict[str, int], n_label: int) -> dict[str, int]:
    """Labels per stratum: one each when possible, the rest by largest remainder on spare size."""
    names = sorted(sizes)
    if n_label < len(names):
        # Too few labels for every stratum: cover the largest ones (name breaks ties).
        covered = sorted(names, key=lambda name: (-sizes[name], name))[:n_label]
        return {name: int(name in covered) for name in names}
    spare = {name: sizes[name] - 1 for name in names}
    extra = n_label - len(names)
    total_spare = sum(spare.values())
    quotas = {name: extra * spare[name] / total_spare if total_spare else 0.0 for name in names}
    counts = {name: 1 + math.floor(quotas[name]) for name in names}
    leftover = n_label - sum(counts.values())
    by_remainder = sorted(names, key=lambda name: (-(quotas[name] % 1.0), name))
    for name in by_remainder[:leftover]:
        counts[name] += 1
    return counts


def stratified_selection(strata: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a stratified random ``fraction`` of the pool (round half up, >= 1).

    Every stratum gets at least one label when there are enough labels; the rest are
    spread in proportion to stratum size. Deterministic given ``seed``, and each stratum
    takes a prefix of one seeded shuffle, so raising the fraction keeps the labels already
    paid for (nested selections, barring a rare largest-remainder reshuffle).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label_fraction must be in (0, 1], got {fraction}")
    labels = np.asarray([str(label) for label in strata], dtype=object)
    if labels.size == 0:
        raise ValueError("cannot select labels from an empty pool")
    n_label = min(labels.size, max(1, _round_half_up(fraction * labels.size)))
    members = {name: np.flatnonzero(labels == name) for name in sorted(set(labels.tolist()))}
    counts = _allocate({name: len(rows) for name, rows in members.items()}, n_label)
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(rows)[: counts[name]] for name, rows in members.items()]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


@dataclass(frozen=True)
class LabelSplit:
    """Positions into the labelled set; holdout never takes part in training or stopping."""

    train: np.ndarray
    validation: np.ndarray
    holdout: np.ndarray


def split_labelled(
    n_labelled: int, seed: int, fractions: tuple[float, float, float] = DEFAULT_SPLIT
) -> LabelSplit:
    """Randomly split ``n_labelled`` positions into train / validation / holdout (>= 2 each)."""
    if n_labelled < MIN_LABELS:
        raise ValueError(
            f"ALinFiK needs at least {MIN_LABELS} labelled samples (2 each for train, "
            f"validation and holdout), got {n_labelled}; raise label_fraction or the pool size"
        )
    if len(fractions) != 3 or min(fractions) <= 0 or not math.isclose(sum(fractions), 1.0):
        raise ValueError(
            f"split fractions must be 3 positive numbers summing to 1, got {fractions}"
        )
    # A seed stream separate from the selection's, so the two draws are independent.
    order = np.random.default_rng([seed, 1]).permutation(n_labelled)
    n_validation = max(2, _round_half_up(fractions[1] * n_labelled))
    n_holdout = max(2, _round_half_up(fractions[2] * n_labelled))
    # Small pools: give train its two items back from the larger of the other parts.
    while n_labelled - n_validation - n_holdout < 2:
        if n_validation >= n_holdout:
            n_validation -= 1
        else:
            n_holdout -= 1
    n_train = n_labelled - n_validation - n_holdout
    return LabelSplit(
        train=np.sort(order[:n_train]),
        validation=np.sort(order[n_train : n_train + n_validation]),
        holdout=np.sort(order[n_train + n_validation :]),
    )


def cross_fit_splits(n_labelled: int, folds: int, seed: int, repeat: int = 0) -> list[LabelSplit]:
    """One split per member: fold k is its holdout, the rest its train and validation.

    Folds partition the labels (each is held out from exactly one member); every part has
    at least two items, so ``folds`` shrinks to ``n_labelled // 2`` on small label sets.
    Validation takes ``CROSS_FIT_VALIDATION`` of the rest, for early stopping. ``repeat``
    r > 0 shuffles afresh (repeat 0 is the shuffle of the seed alone).
    """
    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {folds}")
    if n_labelled < MIN_LABELS:
        raise ValueError(
            f"ALinFiK needs at least {MIN_LABELS} labelled samples, got {n_labelled}; "
            "raise label_fraction or the pool size"
        )
    stream = [seed, 1, repeat] if repeat else [seed, 1]
    order = np.random.default_rng(stream).permutation(n_labelled)
    parts = np.array_split(order, min(folds, n_labelled // 2))
    splits = []
    for k, holdout in enumerate(parts):
        rest = np.concatenate([part for j, part in enumerate(parts) if j != k])
        n_validation = min(max(2, _round_half_up(CROSS_FIT_VALIDATION * len(rest))), len(rest) - 2)
        splits.append(
            LabelSplit(
                train=np.sort(rest[n_validation:]),
                validation=np.sort(rest[:n_validation]),
                holdout=np.sort(holdout),
            )
        )
    return splits


def label_splits(
    n_labelled: int,
    folds: int,
    seed: int,
    split_fractions: tuple[float, float, float] = DEFAULT_SPLIT,
    repeats: int = 1,
) -> list[LabelSplit]:
    """The splits a proxy's members train on, one each: one split by ``split_fractions``
    when folds is 1, else ``repeats`` rounds of ``cross_fit_splits``."""
    if folds < 1:
        raise ValueError(f"folds must be at least 1, got {folds}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if folds == 1:
        if repeats != 1:
            raise ValueError("repeats need cross-fitting: pass folds of 2 or more")
        return [split_labelled(n_labelled, seed, split_fractions)]
    return [
        split
        for repeat in range(repeats)
        for split in cross_fit_splits(n_labelled, folds, seed, repeat)
    ]


@dataclass(frozen=True)
class HeadFit:
    """A trained head (one, or cross-fitted members), its output scaler, and each label's
    prediction by a member that never saw it (NaN where every member trained on it)."""

    head: RegressionHead | EnsembleHead
    scaler: TargetScaler
    heldout: np.ndarray
    reports: list[TrainingReport]

    @property
    def report(self) -> TrainingReport:
        """All members at once: summed epochs and seconds, mean best validation Spearman."""
        if len(self.reports) == 1:
            return self.reports[0]
        return TrainingReport(
            best_epoch=max(report.best_epoch for report in self.reports),
            epochs_run=sum(report.epochs_run for report in self.reports),
            best_val_spearman=float(np.mean([r.best_val_spearman for r in self.reports])),
            seconds=sum(report.seconds for report in self.reports),
        )


def _member_seed(seed: int, member: int) -> int:
    return int(np.random.SeedSequence([seed, member]).generate_state(1)[0])


def fit_head(
    inputs: np.ndarray,
    labels: np.ndarray,
    splits: Sequence[LabelSplit],
    *,
    head_config: HeadConfig,
    config: TrainConfig,
    seed: int,
    input_statistics: tuple[np.ndarray, np.ndarray] | None = None,
) -> HeadFit:
    """Train one head per split on the labelled ``inputs`` rows (``label_splits``); several
    become one ``EnsembleHead``. ``input_statistics`` default to those of all ``inputs``
    (features only, no labels)."""
    inputs = np.asarray(inputs, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.float64)
    statistics = input_statistics or feature_statistics(inputs)
    member_config = replace(head_config, members=1)
    heads, scalers, reports = [], [], []
    heldout_sum, heldout_count = np.zeros(len(labels)), np.zeros(len(labels))
    for k, split in enumerate(splits):
        head, scaler, report = train_head(
            inputs[split.train],
            labels[split.train],
            inputs[split.validation],
            labels[split.validation],
            head_config=member_config,
            config=config,
            seed=seed if len(splits) == 1 else _member_seed(seed, k),
            input_statistics=statistics,
        )
        with torch.inference_mode(), single_thread():
            predicted = head(torch.from_numpy(inputs[split.holdout])).double().numpy()
        heldout_sum[split.holdout] += scaler.inverse(predicted)
        heldout_count[split.holdout] += 1
        heads.append(head)
        scalers.append(scaler)
        reports.append(report)
    # Each label's held-out prediction: the mean of the members that held it out.
    heldout = np.full(len(labels), np.nan)
    judged = heldout_count > 0
    heldout[judged] = heldout_sum[judged] / heldout_count[judged]
    if len(heads) == 1:
        return HeadFit(heads[0], scalers[0], heldout, reports)
    ensemble = EnsembleHead(replace(head_config, members=len(heads)))
    for target, source in zip(ensemble.members, heads, strict=True):
        target.load_state_dict(source.state_dict())
    # The output scaler only expresses the members' mean in z-units; it changes no score.
    output = TargetScaler.fit(labels)
    ensemble.set_scalers(scalers, output)
    return HeadFit(ensemble.eval(), output, heldout, reports)


def fidelity_report(exact: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Holdout agreement between exact and proxy scores."""
    return {
        "spearman": spearman(exact, predicted),
        "kendall_tau": kendall_tau(exact, predicted),
        "precision_at_10pct": precision_at_k_fraction(exact, predicted, 0.1),
        "n_holdout": float(len(exact)),
    }


def heldout_fidelity(exact: np.ndarray, heldout: np.ndarray) -> dict[str, float]:
    """``fidelity_report`` over the labels some head held out (finite ``heldout`` entries)."""
    judged = np.isfinite(heldout)
    return fidelity_report(exact[judged], heldout[judged])


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


def _call_label_fn(label_fn: LabelFn, indices: np.ndarray) -> np.ndarray:
    labels = np.asarray(label_fn([int(index) for index in indices]), dtype=np.float64)
    if labels.shape != (len(indices),):
        raise ValueError(
            f"label_fn returned shape {labels.shape} for {len(indices)} indices; "
            "it must return one exact score per index"
        )
    bad = np.flatnonzero(~np.isfinite(labels))
    if bad.size:
        raise ValueError(f"label_fn returned a non-finite score for sample index {indices[bad[0]]}")
    return labels


def _validated_embeddings(embeddings: np.ndarray, n_samples: int) -> np.ndarray:
    if embeddings.ndim != 2 or embeddings.shape[0] != n_samples:
        raise ValueError(
            f"embeddings have shape {embeddings.shape}; expected one row per sample ({n_samples})"
        )
    return embeddings


def _resolve_strata(samples: Sequence[Sample], strata: Sequence[str] | None) -> np.ndarray:
    if strata is None:
        return length_strata(samples)
    if len(strata) != len(samples):
        raise ValueError(f"{len(strata)} strata labels for {len(samples)} samples")
    return np.asarray([str(label) for label in strata], dtype=object)


@dataclass(frozen=True)
class _Fitted:
    head: RegressionHead | EnsembleHead
    scaler: TargetScaler
    report: TrainingReport
    tuned: SentenceEncoder | None
    member_reports: tuple[TrainingReport, ...] = ()


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


def _fit_finetuned(
    pool: _PoolInputs,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    encoder: SentenceEncoder | None,
    config: TrainConfig,
    seed: int,
) -> _Fitted:
    """Tune the encoder's last layers with a head on ``train`` (rows, labels), early-stopped
    on ``validation``; the holdout never enters."""
    assert encoder is not None
    (train_rows, train_y), (val_rows, val_y) = train, validation
    counts = None
    if pool.token_counts is not None:
        counts = (pool.token_counts[train_rows], pool.token_counts[val_rows])
    tuned, head, scaler, report = train_finetuned(
        encoder,
        [pool.texts[i] for i in train_rows],
        train_y,
        [pool.texts[i] for i in val_rows],
        val_y,
        token_counts=counts,
        frozen_inputs=(pool.rows(train_rows), pool.rows(val_rows)),
        head_config=pool.head_config,
        config=config,
        seed=seed,
        input_statistics=pool.statistics(),
    )
    return _Fitted(head, scaler, report, tuned)


def _train(
    pool: _PoolInputs,
    labelled: np.ndarray,
    exact: np.ndarray,
    splits: list[LabelSplit],
    *,
    finetune_encoder: bool,
    encoder: SentenceEncoder | None,
    config: TrainConfig,
    seed: int,
) -> tuple[_Fitted, np.ndarray | None]:
    """The proxy's heads and each label's held-out prediction (None when fine-tuned: those
    come from the tuned encoder's scores of the pool)."""
    if finetune_encoder:
        split = splits[0]
        fitted = _fit_finetuned(
            pool,
            train=(labelled[split.train], exact[split.train]),
            validation=(labelled[split.validation], exact[split.validation]),
            encoder=encoder,
            config=config,
            seed=seed,
        )
        return fitted, None
    fit = fit_head(
        pool.rows(labelled),
        exact,
        splits,
        head_config=pool.head_config,
        config=config,
        seed=seed,
        input_statistics=pool.statistics(),
    )
    members = tuple(fit.reports) if len(splits) > 1 else ()
    return _Fitted(fit.head, fit.scaler, fit.report, None, members), fit.heldout


def _metadata(
    fitted: _Fitted, *, encoder_identity: str, config: TrainConfig, n_labelled: int, **recorded
) -> ProxyMetadata:
    tuned = fitted.tuned
    return ProxyMetadata(
        head=fitted.head.config,
        target_mean=fitted.scaler.mean,
        target_std=fitted.scaler.std,
        encoder_identity=tuned.identity if tuned is not None else encoder_identity,
        base_encoder_identity=encoder_identity,
        finetuned_layers=config.finetune_layers if tuned is not None else None,
        encoder_finetuned=tuned is not None,
        max_length=config.max_length,
        n_labelled=n_labelled,
        training={
            "config": {name: getattr(config, name) for name in config.__dataclass_fields__},
            "best_epoch": fitted.report.best_epoch,
            "epochs_run": fitted.report.epochs_run,
            "best_val_spearman": fitted.report.best_val_spearman,
            "members": [
                {
                    "best_epoch": r.best_epoch,
                    "epochs_run": r.epochs_run,
                    "best_val_spearman": r.best_val_spearman,
                }
                for r in fitted.member_reports
            ],
        },
        **recorded,
    )


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
    label_fraction: float = 0.1,
    seed: int = 0,
    strata: Sequence[str] | None = None,
    embeddings: np.ndarray | None = None,
    token_counts: Sequence[int] | None = None,
    extra_features: np.ndarray | None = None,
    extra_feature_name: str = "",
    encoder: SentenceEncoder | None = None,
    encoder_identity: str | None = None,
    finetune_encoder: bool = False,
    head_config: HeadConfig | None = None,
    train_config: TrainConfig | None = None,
    folds: int = DEFAULT_FOLDS,
    repeats: int | None = None,
    split_fractions: tuple[float, float, float] = DEFAULT_SPLIT,
    model_identity: str = "",
    target_hash: str = "",
    embed_batch_size: int = 64,
    progress: bool = False,
) -> AlinfikResult:
    """Score every sample: exact LinFiK on a stratified sample, the proxy on the rest.

    ``label_fn(indices)`` must return exact LinFiK scores for those sample indices.
    ``embeddings`` and ``token_counts`` (rows in sample order, e.g. from the ingest-time
    store, made by the encoder named by ``encoder_identity``) skip the encoder; otherwise
    ``encoder`` (default: packaged MiniLM) computes them. The default head reads the
    embedding plus a length feature. ``finetune_encoder`` also tunes the encoder's last
    layers (``train_config``) and re-embeds the pool with the tuned copy, which costs an
    encoder pass per task. ``extra_features`` [N, k] (e.g. ``token_features.py``'s, named by
    ``extra_feature_name`` in the proxy's metadata) are appended to the head's inputs; they
    work with the frozen encoder only. ``folds`` > 1 cross-fits that many members, in
    ``repeats`` rounds (default ``DEFAULT_REPEATS``; see the module docstring); ``folds=1``
    splits the labels once by ``split_fractions``.
    """
    if not samples:
        raise ValueError("run_alinfik needs at least one sample")
    if extra_features is not None and finetune_encoder:
        raise ValueError("extra_features work with the frozen encoder only; drop finetune_encoder")
    if finetune_encoder and folds != 1:
        raise ValueError("fine-tuning trains one encoder on one split: pass folds=1")
    if repeats is None:
        repeats = DEFAULT_REPEATS if folds > 1 else 1
    config = train_config or TrainConfig()
    strata_labels = _resolve_strata(samples, strata)
    needs_counts = token_counts is None and (head_config is None or head_config.length_feature)
    if embeddings is None or needs_counts or finetune_encoder:
        encoder = encoder or SentenceEncoder()
    timings: dict[str, float] = {}

    started = time.perf_counter()
    pool = _pool_inputs(
        samples,
        embeddings,
        token_counts,
        extra_features,
        encoder,
        head_config,
        config,
        embed_batch_size,
        progress,
    )
    timings["embed_seconds"] = time.perf_counter() - started

    labelled = stratified_selection(strata_labels, label_fraction, seed)
    # Split before labelling, so too few labels fail before any exact scoring is paid for.
    splits = label_splits(len(labelled), folds, seed, split_fractions, repeats)
    started = time.perf_counter()
    exact = _call_label_fn(label_fn, labelled)
    timings["label_seconds"] = time.perf_counter() - started

    fitted, heldout = _train(
        pool,
        labelled,
        exact,
        splits,
        finetune_encoder=finetune_encoder,
        encoder=encoder,
        config=config,
        seed=seed,
    )
    timings["train_seconds"] = fitted.report.seconds
    identity = encoder.identity if encoder is not None else (encoder_identity or "unknown")
    metadata = _metadata(
        fitted,
        encoder_identity=identity,
        config=config,
        n_labelled=len(labelled),
        model_identity=model_identity,
        target_hash=target_hash,
        seed=seed,
        label_fraction=label_fraction,
        extra_features=extra_feature_name if pool.extra_features is not None else "",
    )
    proxy = LinFiKProxy(fitted.head, metadata, fitted.tuned)

    started = time.perf_counter()
    if fitted.tuned is not None:
        scores = proxy.predict_texts(pool.texts, batch_size=embed_batch_size)
    else:
        scores = proxy.predict(
            pool.embeddings, pool.token_counts, extra_features=pool.extra_features
        )
    timings["predict_seconds"] = time.perf_counter() - started

    if heldout is None:
        heldout = np.full(len(labelled), np.nan)
        heldout[splits[0].holdout] = scores[labelled[splits[0].holdout]]
    metadata.fidelity = {
        **heldout_fidelity(exact, heldout),
        "folds": float(len(splits) // repeats),
        "repeats": float(repeats),
    }
    scores[labelled] = exact
    is_exact = np.zeros(len(samples), dtype=bool)
    is_exact[labelled] = True
    return AlinfikResult(
        scores=scores,
        is_exact=is_exact,
        fidelity=dict(metadata.fidelity),
        labelled_indices=labelled,
        splits=splits,
        heldout_predictions=heldout,
        proxy=proxy,
        training=fitted.report,
        timings=timings,
    )
