"""From labelled rows to a fitted proxy: train the head(s), build the metadata, measure
fidelity on held-out labels. The one place both the CLI and the web pipeline fit a proxy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from valuation.engine.crossfit import LabelSplit, fit_head
from valuation.engine.embeddings import SentenceEncoder
from valuation.engine.finetune import train_finetuned
from valuation.engine.heads import EnsembleHead, HeadConfig, RegressionHead, TargetScaler
from valuation.engine.metrics import kendall_tau, precision_at_k_fraction, spearman
from valuation.engine.proxy import LinFiKProxy, ProxyMetadata
from valuation.engine.training import TrainConfig, TrainingReport

__all__ = [
    "FinetuneInputs",
    "ProxyFit",
    "ProxyProvenance",
    "fidelity_report",
    "fit_proxy",
    "heldout_fidelity",
    "proxy_metadata",
    "split_fidelity",
]


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


def split_fidelity(
    exact: np.ndarray, heldout: np.ndarray, *, n_splits: int, repeats: int
) -> dict[str, float]:
    """The fidelity a proxy records: held-out agreement plus how the labels were cut."""
    return {
        **heldout_fidelity(exact, heldout),
        "folds": float(n_splits // repeats),
        "repeats": float(repeats),
    }


@dataclass(frozen=True)
class ProxyProvenance:
    """Where a proxy's labels came from, recorded in its metadata."""

    model_identity: str = ""
    target_hash: str = ""
    seed: int = 0
    label_fraction: float = 0.0
    # Names the head's extra input columns; "" when it reads none.
    extra_features: str = ""


@dataclass(frozen=True)
class FinetuneInputs:
    """What fine-tuning the encoder needs besides the frozen rows: the labelled samples'
    texts and (for a head with the length feature) token counts, in label order."""

    encoder: SentenceEncoder
    texts: Sequence[str]
    token_counts: np.ndarray | None = None


@dataclass(frozen=True)
class ProxyFit:
    """A fitted proxy, each label's held-out prediction (None when the encoder was tuned:
    those come from the tuned proxy's scores), and the training summary."""

    proxy: LinFiKProxy
    heldout: np.ndarray | None
    report: TrainingReport


def proxy_metadata(
    *,
    head: RegressionHead | EnsembleHead,
    scaler: TargetScaler,
    report: TrainingReport,
    member_reports: Sequence[TrainingReport],
    config: TrainConfig,
    encoder_identity: str,
    tuned: SentenceEncoder | None,
    n_labelled: int,
    provenance: ProxyProvenance,
) -> ProxyMetadata:
    """The metadata saved with a proxy (fidelity is filled in once measured)."""
    return ProxyMetadata(
        head=head.config,
        target_mean=scaler.mean,
        target_std=scaler.std,
        encoder_identity=tuned.identity if tuned is not None else encoder_identity,
        base_encoder_identity=encoder_identity,
        finetuned_layers=config.finetune_layers if tuned is not None else None,
        encoder_finetuned=tuned is not None,
        max_length=config.max_length,
        extra_features=provenance.extra_features,
        model_identity=provenance.model_identity,
        target_hash=provenance.target_hash,
        seed=provenance.seed,
        label_fraction=provenance.label_fraction,
        n_labelled=n_labelled,
        training={
            "config": {name: getattr(config, name) for name in config.__dataclass_fields__},
            "best_epoch": report.best_epoch,
            "epochs_run": report.epochs_run,
            "best_val_spearman": report.best_val_spearman,
            "members": [
                {
                    "best_epoch": r.best_epoch,
                    "epochs_run": r.epochs_run,
                    "best_val_spearman": r.best_val_spearman,
                }
                for r in member_reports
            ],
        },
    )


def fit_proxy(
    *,
    inputs: np.ndarray,
    labels: np.ndarray,
    splits: list[LabelSplit],
    repeats: int,
    head_config: HeadConfig,
    config: TrainConfig,
    seed: int,
    encoder_identity: str,
    provenance: ProxyProvenance,
    input_statistics: tuple[np.ndarray, np.ndarray] | None = None,
    finetune: FinetuneInputs | None = None,
) -> ProxyFit:
    """Fit a proxy on the labelled ``inputs`` rows (one per label), one head per split.

    With ``finetune`` the encoder's last layers are tuned with a head on the first split
    (train, early-stopped on validation; the holdout never enters) and fidelity is left for
    the caller to measure from the tuned proxy's scores; otherwise fidelity is measured on
    the held-out predictions and recorded in the metadata.
    """
    labels = np.asarray(labels, dtype=np.float64)
    if finetune is not None:
        split = splits[0]
        counts = None
        if finetune.token_counts is not None:
            counts = (finetune.token_counts[split.train], finetune.token_counts[split.validation])
        tuned, head, scaler, report = train_finetuned(
            finetune.encoder,
            [finetune.texts[i] for i in split.train],
            labels[split.train],
            [finetune.texts[i] for i in split.validation],
            labels[split.validation],
            token_counts=counts,
            frozen_inputs=(inputs[split.train], inputs[split.validation]),
            head_config=head_config,
            config=config,
            seed=seed,
            input_statistics=input_statistics,
        )
        members: Sequence[TrainingReport] = ()
        heldout = None
    else:
        tuned = None
        fit = fit_head(
            inputs,
            labels,
            splits,
            head_config=head_config,
            config=config,
            seed=seed,
            input_statistics=input_statistics,
        )
        head, scaler, report, heldout = fit.head, fit.scaler, fit.report, fit.heldout
        members = fit.reports if len(splits) > 1 else ()
    metadata = proxy_metadata(
        head=head,
        scaler=scaler,
        report=report,
        member_reports=members,
        config=config,
        encoder_identity=encoder_identity,
        tuned=tuned,
        n_labelled=len(labels),
        provenance=provenance,
    )
    if heldout is not None:
        metadata.fidelity = split_fidelity(labels, heldout, n_splits=len(splits), repeats=repeats)
    return ProxyFit(LinFiKProxy(head, metadata, tuned), heldout, report)
