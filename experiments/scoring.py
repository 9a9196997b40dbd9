"""Pool-level values of every method, computed once per scale and cached.

The five selection criteria, all "higher = pick first":

* ``linfik``: exact LinFiK at the scoring checkpoint (engine ``ExactLinFiK.score``);
* ``alinfik``: the engine's ``run_alinfik`` at a 10 % label fraction, labels looked up
  from the cached exact scores (so its ranking equals what the engine would produce);
* ``random``: a seeded random permutation;
* ``low_perplexity``: minus the sample's own loss at the scoring checkpoint;
* ``embedding``: cosine between the sample's sentence embedding and the mean target
  embedding (a similarity baseline that needs no model gradients).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from experiments.common import Context, Pool, Timer, load_targets
from experiments.lm import load_checkpoint
from valuation.engine.alinfik import AlinfikOptions, AlinfikResult, PoolFeatures, run_alinfik
from valuation.engine.data import Sample
from valuation.engine.exact import ExactLinFiK, TargetGradient
from valuation.engine.labels import LabelFn

METHODS = ("alinfik", "linfik", "random", "low_perplexity", "embedding")
METHOD_LABELS = {
    "alinfik": "ALinFiK (10% labels)",
    "linfik": "exact LinFiK",
    "random": "random",
    "low_perplexity": "lowest perplexity",
    "embedding": "embedding similarity",
}
DEFAULT_FRACTION = 0.1
SCORE_BATCH = 16


def make_scorer(ctx: Context, step: int, **options: Any) -> ExactLinFiK:
    loaded = load_checkpoint(ctx.paths.checkpoint(step))
    options.setdefault("batch_size", SCORE_BATCH)
    return ExactLinFiK(loaded.model, loaded.tokenizer, max_length=ctx.scale.context, **options)


def target_gradient(scorer: ExactLinFiK, target: str) -> TargetGradient:
    return scorer.target_gradient(load_targets(target))


Computed = tuple[np.ndarray, dict[str, Any]]


def _cached(path: Path, compute: Callable[[], Computed]) -> Computed:
    """``compute() -> (array, meta)`` once; later calls read ``path`` (.npy) and its .json."""
    meta_path = path.with_suffix(".json")
    if path.is_file() and meta_path.is_file():
        return np.load(path), json.loads(meta_path.read_text(encoding="utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    values, meta = compute()
    np.save(path, values)
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    return values, meta


def exact_scores(
    ctx: Context, pool: Pool, target: str, step: int | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Exact LinFiK of every pool sample at checkpoint ``step`` (default: the scoring one)."""
    step = ctx.scale.score_step if step is None else step

    def compute():
        scorer = make_scorer(ctx, step)
        with Timer() as grad_timer:
            gradient = target_gradient(scorer, target)
        with Timer() as score_timer:
            values = scorer.score(pool.samples, gradient)
        meta = {
            "target_gradient_seconds": grad_timer.seconds,
            "score_seconds": score_timer.seconds,
            "n_samples": len(pool),
            "n_params": scorer.n_params,
        }
        return values, meta

    return _cached(ctx.paths.cache / f"linfik-{target}-step{step}.npy", compute)


def own_losses(ctx: Context, pool: Pool) -> np.ndarray:
    """Each sample's own loss at the scoring checkpoint (for the perplexity baseline)."""
    step = ctx.scale.score_step

    def compute():
        with Timer() as timer:
            values = make_scorer(ctx, step).losses(pool.samples)
        return values, {"seconds": timer.seconds}

    return _cached(ctx.paths.cache / f"losses-step{step}.npy", compute)[0]


# ----- sentence embeddings ------------------------------------------------------------------


def hashing_embeddings(texts: Sequence[str], dim: int = 384) -> np.ndarray:
    """Hashed bag of words, unit rows: a stand-in encoder for smoke tests only."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            out[row, zlib.crc32(word.encode()) % dim] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-9)


def _encode(ctx: Context, texts: Sequence[str]) -> tuple[np.ndarray, str]:
    if ctx.scale.encoder == "hashing":
        return hashing_embeddings(texts), "hashing-384"
    from valuation.engine.embeddings import SentenceEncoder

    encoder = SentenceEncoder()
    return encoder.encode(
        list(texts), batch_size=32, max_length=ctx.scale.context
    ), encoder.identity


def pool_embeddings(ctx: Context, pool: Pool) -> tuple[np.ndarray, dict[str, Any]]:
    """Sentence embeddings of the pool (task-independent: computed once, at ingest)."""

    def compute():
        with Timer() as timer:
            matrix, identity = _encode(ctx, [s.display_text for s in pool.samples])
        return matrix, {"seconds": timer.seconds, "encoder": identity, "n_samples": len(pool)}

    return _cached(ctx.paths.cache / "pool-embeddings.npy", compute)


def embedding_similarity(ctx: Context, pool: Pool, target: str) -> np.ndarray:
    embeddings, _ = pool_embeddings(ctx, pool)
    target_texts = [s.display_text for s in load_targets(target)]
    centroid = _encode(ctx, target_texts)[0].mean(axis=0)
    return embeddings @ (centroid / np.linalg.norm(centroid))


# ----- ALinFiK -------------------------------------------------------------------------------


def alinfik(
    ctx: Context,
    pool: Pool,
    exact: np.ndarray,
    *,
    fraction: float = DEFAULT_FRACTION,
    seed: int = 0,
    label_fn: LabelFn | None = None,
) -> AlinfikResult:
    """The engine's ALinFiK pipeline on cached embeddings, strata = provider dataset.

    By default the exact labels are looked up from ``exact`` (already computed for the
    whole pool); pass ``label_fn`` to compute them for real, e.g. to time them.
    """
    embeddings, meta = pool_embeddings(ctx, pool)
    return run_alinfik(
        samples=pool.samples,
        label_fn=label_fn or (lambda rows: exact[np.asarray(rows, dtype=np.int64)]),
        options=AlinfikOptions(label_fraction=fraction, seed=seed),
        features=PoolFeatures(
            strata=list(pool.datasets), embeddings=embeddings, encoder_identity=meta["encoder"]
        ),
    )


def method_values(ctx: Context, pool: Pool, target: str, seed: int) -> dict[str, np.ndarray]:
    """Every selection criterion's value for every pool sample (higher = better), cached."""
    path = ctx.paths.cache / f"values-{target}-seed{seed}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return {method: stored[method] for method in METHODS}
    exact, _ = exact_scores(ctx, pool, target)
    values = {
        "alinfik": alinfik(ctx, pool, exact, seed=seed).scores,
        "linfik": exact,
        "random": np.random.default_rng([seed, 7]).permutation(len(pool)).astype(np.float64),
        "low_perplexity": -own_losses(ctx, pool),
        "embedding": embedding_similarity(ctx, pool, target),
    }
    np.savez(path, **values)
    return values


def top_rows(values: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` highest values (stable: ties keep pool order)."""
    return np.argsort(-values, kind="stable")[:k]


def samples_at(pool: Pool, rows: Sequence[int]) -> list[Sample]:
    return [pool.samples[i] for i in rows]
