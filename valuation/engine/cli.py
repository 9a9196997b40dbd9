"""Command line: ``python -m valuation.engine score ...`` (an external contract; keep stable).

Writes one ``{"id", "score"}`` line per training sample in input order and a summary
beside it (``X.jsonl`` -> ``X.summary.json``). Bad input exits with status 2 and a
``file:line: message`` on stderr; outputs appear only when everything succeeded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import torch

from valuation.engine.data import (
    DEFAULT_MAX_LENGTH,
    EmptySampleError,
    NumberedSample,
    SampleFileError,
    TokenizedSample,
    pad_token_id,
    read_numbered_samples,
    tokenize_sample,
)
from valuation.engine.exact import ExactLinFiK, TargetGradient
from valuation.engine.layer_features import (
    DEFAULT_LAYERS,
    decoder_layers,
    hidden_state_features,
    layer_feature_name,
)
from valuation.engine.models import LoadedModel, ModelLoadError, load_model

EXIT_INPUT_ERROR = 2
METHODS = ("linfik", "alinfik")


class InputError(Exception):
    """User-facing input problem; the CLI prints it and exits with status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m valuation.engine")
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser("score", help="value every training sample against a target set")
    score.add_argument("--model", required=True, help="model directory, .gguf file or smollm2-135m")
    score.add_argument("--train", required=True, type=Path, help="training samples (JSONL)")
    score.add_argument("--target", required=True, type=Path, help="target samples (JSONL)")
    score.add_argument("--method", required=True, choices=METHODS)
    score.add_argument("--out", required=True, type=Path, help="scores file, must end in .jsonl")
    score.add_argument("--label-fraction", type=float, default=0.1, help="alinfik: exact share")
    score.add_argument("--seed", type=int, default=0)
    score.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH)
    score.add_argument("--batch-size", type=int, default=8)
    score.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    score.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float64"))
    score.add_argument("--param-filter", default=None, help="regex of parameter names to use")
    score.add_argument(
        "--proxy-layers",
        type=int,
        default=DEFAULT_LAYERS,
        help="alinfik: the proxy also reads the model's hidden state after this many layers "
        "(at most the model's layer count; 0 = off)",
    )
    return parser


def summary_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".jsonl") + ".summary.json")


def _validate_args(args: argparse.Namespace) -> None:
    if not args.out.name.endswith(".jsonl"):
        raise InputError(f"--out {args.out}: the scores file name must end in .jsonl")
    if args.max_length < 2:
        raise InputError(f"--max-length must be at least 2, got {args.max_length}")
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not 0.0 < args.label_fraction <= 1.0:
        raise InputError(f"--label-fraction must be in (0, 1], got {args.label_fraction}")
    if args.proxy_layers < 0:
        raise InputError(f"--proxy-layers must be 0 or more, got {args.proxy_layers}")


def _tokenize_file(
    path: Path, numbered: Sequence[NumberedSample], tokenizer: Any, max_length: int
) -> list[TokenizedSample]:
    tokenized = []
    for item in numbered:
        try:
            tokenized.append(tokenize_sample(item.sample, tokenizer, max_length))
        except EmptySampleError as exc:
            raise SampleFileError(path, item.line, str(exc)) from None
    return tokenized


def _target_hash(numbered: Sequence[NumberedSample]) -> str:
    digest = hashlib.sha256()
    for item in numbered:
        sample = item.sample
        record = [sample.id, sample.text, sample.prompt, sample.response]
        digest.update(json.dumps(record).encode())
    return "sha256:" + digest.hexdigest()


def _peak_memory(device: torch.device) -> dict[str, float | None]:
    # ru_maxrss is in KiB on Linux.
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cuda_mib = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"rss_peak_mib": round(rss_mib, 1), "cuda_max_allocated_mib": cuda_mib}


def _proxy_model_features(
    args: argparse.Namespace, train: list[TokenizedSample], loaded: LoadedModel
) -> tuple[np.ndarray, str]:
    """The scored model's own proxy inputs: its token embeddings (no forward pass) and,
    unless --proxy-layers 0, its hidden state after the first layers (docs/valuation.md)."""
    from valuation.engine.token_features import FEATURE_NAME, token_embedding_features

    features = token_embedding_features(train, loaded.model.get_input_embeddings().weight)
    if args.proxy_layers == 0:
        return features, FEATURE_NAME
    layers = min(args.proxy_layers, len(decoder_layers(loaded.model)))
    hidden = hidden_state_features(
        loaded.model,
        train,
        pad_id=pad_token_id(loaded.tokenizer),
        layers=layers,
        batch_size=args.batch_size,
    )
    return np.hstack([features, hidden]), f"{FEATURE_NAME}+{layer_feature_name(layers)}"


def _run_alinfik(
    args: argparse.Namespace,
    scorer: ExactLinFiK,
    train: list[TokenizedSample],
    numbered_train: Sequence[NumberedSample],
    target: TargetGradient,
    loaded: LoadedModel,
    target_hash: str,
) -> tuple[np.ndarray, dict[str, Any]]:
    # Imported here so the exact half works before or without the proxy half.
    from valuation.engine.alinfik import AlinfikOptions, PoolFeatures, run_alinfik

    def label_fn(indices: Sequence[int]) -> np.ndarray:
        return scorer.score([train[i] for i in indices], target)

    features, feature_name = _proxy_model_features(args, train, loaded)
    try:
        result = run_alinfik(
            samples=[item.sample for item in numbered_train],
            label_fn=label_fn,
            options=AlinfikOptions(
                label_fraction=args.label_fraction,
                seed=args.seed,
                model_identity=loaded.identity,
                target_hash=target_hash,
                progress=True,
            ),
            features=PoolFeatures(extra_features=features, extra_feature_name=feature_name),
        )
    except ValueError as exc:
        raise InputError(f"alinfik: {exc}") from exc
    extra = {
        "labelled": int(np.count_nonzero(result.is_exact)),
        "fidelity": {key: float(value) for key, value in result.fidelity.items()},
        "proxy_features": f"sentence embedding+length+{feature_name}",
    }
    return np.asarray(result.scores, dtype=np.float64), extra


def _write_atomically(stack: ExitStack, destination: Path, content: str) -> Path:
    """Write to a temp file beside ``destination``; the caller renames it on success."""
    fd, name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp"
    )
    temp = Path(name)
    stack.callback(lambda: temp.unlink(missing_ok=True))
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    # mkstemp creates the file private (0600); give it the permissions open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)
    return temp


def _summary(
    args: argparse.Namespace,
    loaded: LoadedModel,
    scorer: ExactLinFiK,
    target_gradient: TargetGradient,
    counts: dict[str, int],
    seconds: float,
    load_seconds: float,
) -> dict[str, Any]:
    return {
        "method": args.method,
        "model": {
            "name": loaded.name,
            "identity": loaded.identity,
            "n_params": loaded.n_params,
            "scored_params": scorer.n_params,
            "device": str(loaded.device),
            "dtype": str(loaded.dtype).removeprefix("torch."),
        },
        "counts": counts,
        "seconds": round(seconds, 3),
        "load_seconds": round(load_seconds, 3),
        "samples_per_second": round(counts["train"] / seconds, 3) if seconds > 0 else None,
        "peak_memory": _peak_memory(loaded.device),
        "target_gradient_norm": target_gradient.norm(),
        "settings": {
            "seed": args.seed,
            "max_length": args.max_length,
            "batch_size": args.batch_size,
            "param_filter": args.param_filter,
            "label_fraction": args.label_fraction if args.method == "alinfik" else None,
        },
    }


def _write_outputs(
    out: Path, numbered: Sequence[NumberedSample], scores: np.ndarray, summary: dict[str, Any]
) -> None:
    """Both files appear together or not at all (temp files renamed at the end)."""
    lines = "".join(
        json.dumps({"id": item.sample.id, "score": float(score)}) + "\n"
        for item, score in zip(numbered, scores, strict=True)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        scores_temp = _write_atomically(stack, out, lines)
        summary_temp = _write_atomically(stack, summary_path(out), json.dumps(summary, indent=2))
        os.replace(summary_temp, summary_path(out))
        os.replace(scores_temp, out)


def run_score(args: argparse.Namespace) -> dict[str, Any]:
    """Score the training file and write both outputs; returns the summary."""
    _validate_args(args)
    numbered_train = read_numbered_samples(args.train)
    numbered_target = read_numbered_samples(args.target)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    started = time.perf_counter()
    try:
        loaded = load_model(args.model, device=args.device, dtype=args.dtype)
    except ModelLoadError as exc:
        raise InputError(f"--model {args.model}: {exc}") from exc
    load_seconds = time.perf_counter() - started

    train = _tokenize_file(args.train, numbered_train, loaded.tokenizer, args.max_length)
    targets = _tokenize_file(args.target, numbered_target, loaded.tokenizer, args.max_length)
    try:
        scorer = ExactLinFiK(
            loaded.model,
            loaded.tokenizer,
            max_length=args.max_length,
            batch_size=args.batch_size,
            param_filter=args.param_filter,
            progress=True,
        )
    except ValueError as exc:
        raise InputError(f"--param-filter: {exc}") from exc

    started = time.perf_counter()
    target_gradient = scorer.target_gradient(targets)
    counts: dict[str, int] = {"train": len(train), "target": len(targets)}
    extra: dict[str, Any] = {}
    if args.method == "linfik":
        scores = scorer.score(train, target_gradient)
    else:
        scores, extra = _run_alinfik(
            args,
            scorer,
            train,
            numbered_train,
            target_gradient,
            loaded,
            _target_hash(numbered_target),
        )
        counts["labelled"] = extra.pop("labelled")
    seconds = time.perf_counter() - started
    if scores.shape != (len(train),) or not np.all(np.isfinite(scores)):
        raise RuntimeError(f"scoring produced {scores.shape} scores, non-finite or miscounted")

    summary = _summary(args, loaded, scorer, target_gradient, counts, seconds, load_seconds)
    summary.update(extra)
    _write_outputs(args.out, numbered_train, scores, summary)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summary = run_score(args)
    except (InputError, SampleFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    print(
        f"wrote {summary['counts']['train']} scores to {args.out} "
        f"({summary['samples_per_second']} samples/s)",
        file=sys.stderr,
    )
    return 0
