"""Which inputs let the ALinFiK proxy rank LinFiK best? A feature study on one label set.

One stratified 10% label set of the demo pool (seed 0) plus N further samples are scored
with exact LinFiK once (cached in ``--cache``, keyed by model identity, target set and
sample id). Each feature set then trains one 256-wide head (``train_head``, default
training config) on 5 random train/validation/holdout splits of the same labels; the
table gives the mean ± std of Spearman on the holdout (40 samples) and on the N
unlabelled samples. A second table trains the default inputs (MiniLM + length + model
tokens, and with the model's hidden state after ``--layers`` layers) the ways the engine
can (``label_splits`` + ``fit_head``): one head on one split, or K cross-fitted heads
in one or more rounds, with one or two hidden layers; its held-out column is the holdout
for one split and every label for cross-fitted heads.

    .venv/bin/python benchmarks/bench_proxy_features.py                 # SmolLM2-135M
    .venv/bin/python benchmarks/bench_proxy_features.py --eval-samples 100 --splits 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from bench_alinfik import demo_pool, load_targets  # noqa: E402

from valuation.engine.crossfit import fit_head, label_splits, split_labelled  # noqa: E402
from valuation.engine.data import pad_token_id, tokenize_samples  # noqa: E402
from valuation.engine.embeddings import SentenceEncoder  # noqa: E402
from valuation.engine.exact import ExactLinFiK  # noqa: E402
from valuation.engine.heads import HeadConfig, feature_statistics, length_column  # noqa: E402
from valuation.engine.labels import stratified_selection  # noqa: E402
from valuation.engine.layer_features import hidden_state_features  # noqa: E402
from valuation.engine.metrics import spearman  # noqa: E402
from valuation.engine.models import load_model  # noqa: E402
from valuation.engine.token_features import token_embedding_features  # noqa: E402
from valuation.engine.training import TrainConfig, train_head  # noqa: E402

Features = dict[str, np.ndarray]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--pool-size", type=int, default=2000)
    parser.add_argument("--label-fraction", type=float, default=0.1)
    parser.add_argument("--eval-samples", type=int, default=400)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--target", default="clean-instruction-following")
    parser.add_argument("--layers", type=int, default=4, help="model-layers: hidden state after")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / "var" / "proxy-features")
    return parser.parse_args(argv)


def exact_scores(args, model, samples, targets, rows: np.ndarray) -> dict[int, float]:
    """Exact LinFiK of ``rows``, computed once per (model, targets, sample id) and cached."""
    key = hashlib.sha256(
        json.dumps([model.identity, args.max_length, [t.id for t in targets]]).encode()
    ).hexdigest()[:16]
    path = args.cache / f"exact-{key}.json"
    cached = json.loads(path.read_text()) if path.exists() else {}
    missing = [int(i) for i in rows if samples[i].id not in cached]
    if missing:
        scorer = ExactLinFiK(model.model, model.tokenizer, max_length=args.max_length)
        target = scorer.target_gradient(targets)
        started = time.perf_counter()
        for start in range(0, len(missing), 40):  # save as we go: hours of CPU on a busy box
            part = missing[start : start + 40]
            values = scorer.score([samples[i] for i in part], target)
            cached.update({samples[i].id: float(v) for i, v in zip(part, values, strict=True)})
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cached))
        print(f"exact LinFiK: {len(missing)} samples in {time.perf_counter() - started:.0f}s")
    return {int(i): cached[samples[i].id] for i in rows}


def build_features(args, model, samples, targets) -> Features:
    encoder = SentenceEncoder()
    texts = [sample.display_text for sample in samples]
    embeddings = encoder.encode(texts, 64, args.max_length)
    unit_targets = encoder.encode([t.display_text for t in targets], 64, args.max_length)
    centroid = unit_targets.mean(axis=0)
    centroid /= np.linalg.norm(centroid)
    similarity = embeddings @ unit_targets.T
    tokenized = tokenize_samples(samples, model.tokenizer, args.max_length)
    return {
        "minilm": embeddings,
        "length": length_column(encoder.token_counts(texts), args.max_length),
        "target-similarity": np.column_stack(
            [embeddings @ centroid, similarity.max(axis=1), np.sort(similarity)[:, -5:].mean(1)]
        ),
        "centroid-product": embeddings * centroid,
        "model-tokens": token_embedding_features(
            tokenized, model.model.get_input_embeddings().weight
        ),
        "model-layers": hidden_state_features(
            model.model, tokenized, pad_id=pad_token_id(model.tokenizer), layers=args.layers
        ),
    }


FEATURE_SETS = (
    ("minilm", "length"),
    ("minilm", "length", "target-similarity"),
    ("minilm", "length", "centroid-product"),
    ("model-tokens",),
    ("minilm", "length", "model-tokens"),
    ("minilm", "length", "model-tokens", "target-similarity"),
)


def evaluate(
    inputs: np.ndarray, labelled: np.ndarray, evals: np.ndarray, y: Callable, n_splits: int
) -> np.ndarray:
    """[splits, 2]: Spearman on the holdout and on the unlabelled evaluation samples."""
    statistics = feature_statistics(inputs)
    results = []
    for seed in range(n_splits):
        split = split_labelled(len(labelled), seed)
        train, val, holdout = (
            labelled[part] for part in (split.train, split.validation, split.holdout)
        )
        head, scaler, _ = train_head(
            inputs[train],
            y(train),
            inputs[val],
            y(val),
            head_config=HeadConfig(input_dim=inputs.shape[1], hidden_dims=(256,)),
            seed=seed,
            input_statistics=statistics,
        )
        with torch.no_grad():
            predicted = head.eval()(torch.from_numpy(inputs)).numpy()
        results.append(
            [spearman(y(holdout), predicted[holdout]), spearman(y(evals), predicted[evals])]
        )
    return np.array(results)


DEFAULT_INPUTS = ("minilm", "length", "model-tokens")
# (inputs, folds, rounds of cross-fitting, hidden layers)
HEAD_SCHEMES = (
    (DEFAULT_INPUTS, 1, 1, (256,)),
    (DEFAULT_INPUTS, 5, 1, (256,)),
    (DEFAULT_INPUTS, 1, 1, (512, 128)),
    (DEFAULT_INPUTS, 5, 1, (512, 128)),
    ((*DEFAULT_INPUTS, "model-layers"), 1, 1, (512, 128)),
    ((*DEFAULT_INPUTS, "model-layers"), 5, 1, (512, 128)),
    ((*DEFAULT_INPUTS, "model-layers"), 5, 2, (512, 128)),
    ((*DEFAULT_INPUTS, "model-layers"), 5, 3, (512, 128)),
)


def evaluate_heads(
    inputs: np.ndarray,
    labelled: np.ndarray,
    evals: np.ndarray,
    y: Callable,
    n_splits: int,
    folds: int,
    repeats: int,
    hidden_dims: tuple[int, ...],
) -> np.ndarray:
    """[splits, 2]: held-out Spearman (the engine's heldout predictions) and unlabelled."""
    statistics = feature_statistics(inputs)
    head_config = HeadConfig(input_dim=inputs.shape[1], hidden_dims=hidden_dims)
    results = []
    for seed in range(n_splits):
        splits = label_splits(len(labelled), folds, seed, repeats=repeats)
        fit = fit_head(
            inputs[labelled],
            y(labelled),
            splits,
            head_config=head_config,
            config=TrainConfig(),
            seed=seed,
            input_statistics=statistics,
        )
        with torch.no_grad():
            z = fit.head.eval()(torch.from_numpy(inputs[evals])).double().numpy()
        judged = np.isfinite(fit.heldout)
        results.append(
            [
                spearman(y(labelled)[judged], fit.heldout[judged]),
                spearman(y(evals), fit.scaler.inverse(z)),
            ]
        )
    return np.array(results)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    samples, strata, note = demo_pool(args.pool_size, 0)
    targets, target_note = load_targets(args.target, 50, samples)
    model = load_model(args.model, device="cpu")
    labelled = stratified_selection(strata, args.label_fraction, 0)
    spare = np.setdiff1d(np.arange(len(samples)), labelled)
    evals = np.sort(np.random.default_rng([0, 2]).permutation(spare)[: args.eval_samples])
    exact = exact_scores(args, model, samples, targets, np.concatenate([labelled, evals]))

    def y(rows: np.ndarray) -> np.ndarray:
        return np.array([exact[int(i)] for i in rows])

    features = build_features(args, model, samples, targets)
    print(f"pool: {len(samples)} samples from {note}; targets: {target_note}; model {model.name}")
    print(
        f"{len(labelled)} labels, {len(evals)} unlabelled evaluation samples, "
        f"{args.splits} splits\n"
    )
    print("| proxy inputs | columns | holdout Spearman | unlabelled Spearman |")
    print("| --- | ---: | ---: | ---: |")
    for names in FEATURE_SETS:
        inputs = np.hstack([features[name] for name in names]).astype(np.float32)
        result = evaluate(inputs, labelled, evals, y, args.splits)
        mean, std = result.mean(axis=0), result.std(axis=0)
        print(
            f"| {' + '.join(names)} | {inputs.shape[1]} | {mean[0]:.3f} ± {std[0]:.3f} "
            f"| {mean[1]:.3f} ± {std[1]:.3f} |",
            flush=True,
        )
    print(
        "\n| proxy inputs | heads | hidden layers | held-out Spearman (n) | unlabelled Spearman |"
    )
    print("| --- | --- | --- | ---: | ---: |")
    for names, folds, repeats, hidden in HEAD_SCHEMES:
        inputs = np.hstack([features[name] for name in names]).astype(np.float32)
        result = evaluate_heads(inputs, labelled, evals, y, args.splits, folds, repeats, hidden)
        mean, std = result.mean(axis=0), result.std(axis=0)
        scheme = "one split" if folds == 1 else f"{folds} cross-fitted"
        scheme += f" x {repeats} rounds" if repeats > 1 else ""
        n_heldout = len(split_labelled(len(labelled), 0).holdout) if folds == 1 else len(labelled)
        print(
            f"| {' + '.join(names)} | {scheme} | {' → '.join(map(str, hidden))} "
            f"| {mean[0]:.3f} ± {std[0]:.3f} ({n_heldout}) | {mean[1]:.3f} ± {std[1]:.3f} |",
            flush=True,
        )
    # The ceiling of knowing only which dataset a sample is from: each dataset's true median.
    rows = np.concatenate([labelled, evals])
    medians = {name: np.median(y(rows[np.asarray(strata)[rows] == name])) for name in set(strata)}
    oracle = np.array([medians[strata[i]] for i in rows])
    print(
        f"\noracle (each dataset's median exact score), all {len(rows)} scored samples: "
        f"Spearman {spearman(y(rows), oracle):.3f}"
    )


if __name__ == "__main__":
    main()
