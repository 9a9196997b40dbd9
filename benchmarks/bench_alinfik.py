"""ALinFiK vs LinFiK: cost per scored sample and held-out fidelity, measured in one run.

For each model (a tiny GPT-2 and SmolLM2-135M by default) the pool is scored by exact
LinFiK only where needed (labels, plus an evaluation set) and by ALinFiK at several label
fractions, with a frozen MiniLM encoder, the same plus the scored model's own token
features (``frozen+tokens``, valuation/engine/token_features.py) and a fine-tuned MiniLM
encoder. Costs:

* LinFiK s/sample: measured seconds of exact scoring / samples scored (target gradient
  excluded: both methods pay it once per task);
* ALinFiK s/sample: (labels x LinFiK s/sample + proxy training + proxy inference) / pool,
  i.e. the task's cost amortised over every scored sample; the fine-tuned variant's
  inference includes re-embedding the pool with its tuned encoder, the frozen+tokens
  variant's includes tokenising the pool and averaging the model's embedding rows;
* ingest: MiniLM embedding of the pool, paid once per sample for all tasks, shown apart;
  for frozen+tokens+layers also the model's hidden state after --proxy-layers layers,
  which the valuation service stores once per (sample, model) (VALUATION_PROXY_LAYERS).

Fidelity: Spearman / Kendall tau / precision of the top 10% on the run's held-out labels
(never trained or early-stopped on by the head that predicts them: one holdout slice with
one head, every label with cross-fitted heads, ``--folds``), and Spearman on unlabelled
samples that were scored exactly for evaluation only (the whole pool with --full-exact).

    .venv/bin/python benchmarks/bench_alinfik.py            # defaults; SmolLM2 labels dominate
    .venv/bin/python benchmarks/bench_alinfik.py --quick    # tiny GPT-2 only, smoke run
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import sys
import sysconfig
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from valuation.engine.alinfik import AlinfikOptions, PoolFeatures, run_alinfik  # noqa: E402
from valuation.engine.crossfit import DEFAULT_REPEATS  # noqa: E402
from valuation.engine.data import (  # noqa: E402
    Sample,
    collate,
    pad_token_id,
    read_samples,
    tokenize_samples,
)
from valuation.engine.embeddings import SentenceEncoder  # noqa: E402
from valuation.engine.exact import ExactLinFiK  # noqa: E402
from valuation.engine.labels import stratified_selection  # noqa: E402
from valuation.engine.layer_features import (  # noqa: E402
    decoder_layers,
    hidden_state_features,
    layer_feature_name,
)
from valuation.engine.metrics import spearman  # noqa: E402
from valuation.engine.models import LoadedModel, load_model, wrap_model  # noqa: E402
from valuation.engine.token_features import FEATURE_NAME, token_embedding_features  # noqa: E402
from valuation.engine.training import TrainConfig  # noqa: E402

DEMO_DATA = REPO_ROOT / "demo" / "data"
TINY_GPT2 = "tiny-gpt2"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models",
        default=f"{TINY_GPT2},smollm2-135m",
        help="comma-separated: tiny-gpt2 and/or names/paths for load_model",
    )
    parser.add_argument("--pool-size", type=int, default=2000)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--fractions", default="0.01,0.05,0.1,0.2")
    parser.add_argument(
        "--finetune-fractions",
        default="0.1",
        help="fractions that also run the fine-tuned encoder ('' for none)",
    )
    parser.add_argument(
        "--variants",
        default="frozen,frozen+tokens,frozen+tokens+layers",
        help="proxy inputs run at every fraction: frozen (MiniLM + length), "
        "frozen+tokens (also the model's token features) and/or frozen+tokens+layers (also "
        "its hidden state after --proxy-layers layers)",
    )
    parser.add_argument("--proxy-layers", type=int, default=4)
    parser.add_argument(
        "--folds",
        default="1,5",
        help="comma-separated proxy head counts run for every frozen variant: 1 = one "
        "train/validation/holdout split, K > 1 = K cross-fitted folds (the engine default, 5)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help="rounds of cross-fitting for K > 1 (K x repeats heads; engine default "
        f"{DEFAULT_REPEATS})",
    )
    parser.add_argument("--finetune-layers", type=int, default=2)
    parser.add_argument("--finetune-epochs", type=int, default=6)
    parser.add_argument(
        "--target",
        default="clean-instruction-following",
        help="demo target set under demo/data/targets/",
    )
    parser.add_argument("--n-targets", type=int, default=50)
    parser.add_argument(
        "--eval-samples",
        type=int,
        default=150,
        help="extra unlabelled samples scored exactly, for evaluation only",
    )
    parser.add_argument(
        "--full-exact", default="", help="comma-separated models whose whole pool is scored exactly"
    )
    parser.add_argument("--exact-batch-size", type=int, default=8)
    parser.add_argument(
        "--param-filter", default=None, help="regex of parameter names LinFiK uses (default: all)"
    )
    parser.add_argument(
        "--tiny-warmup-steps",
        type=int,
        default=50,
        help="SGD steps on the pool so the tiny GPT-2 is not random",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (1 is fastest on a busy shared machine)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write rows as JSON here")
    parser.add_argument(
        "--quick", action="store_true", help="tiny GPT-2 only, pool 400, fractions 0.05,0.2"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.pool_size, args.fractions = TINY_GPT2, 400, "0.05,0.2"
        args.finetune_fractions, args.eval_samples = "0.2", 100
        args.tiny_warmup_steps = 20
    return args


def floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


# ----- data -------------------------------------------------------------------------------------


def demo_pool(size: int, seed: int) -> tuple[list[Sample], list[str], str]:
    """A dataset-stratified random pool from the demo corpora; strata are dataset names."""
    samples: list[Sample] = []
    strata: list[str] = []
    for path in sorted(DEMO_DATA.glob("*.jsonl")):
        for sample in read_samples(path):
            samples.append(sample)
            strata.append(path.stem)
    chosen = stratified_selection(strata, min(1.0, size / len(samples)), seed)
    note = f"demo corpora ({len(set(strata))} datasets under demo/data/, {len(samples)} samples)"
    return [samples[i] for i in chosen], [strata[i] for i in chosen], note


def docstring_pool(size: int, seed: int) -> tuple[list[Sample], list[str], str]:
    """Fallback pool: paragraphs of the standard library's docstrings (real English, offline)."""
    paragraphs: list[tuple[str, str]] = []
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
                doc = ast.get_docstring(node) or ""
                for block in doc.split("\n\n"):
                    text = " ".join(block.split())
                    if 12 <= len(text.split()) <= 80:
                        paragraphs.append((path.stem, text))
    order = np.random.default_rng(seed).permutation(len(paragraphs))[:size]
    samples = [Sample(f"doc-{i}", text=paragraphs[i][1]) for i in order]
    strata = [paragraphs[i][0][:1] for i in order]  # module initial: coarse topical strata
    return samples, strata, f"stdlib docstring paragraphs ({len(paragraphs)} available)"


def load_pool(size: int, seed: int) -> tuple[list[Sample], list[str], str]:
    if any(DEMO_DATA.glob("*.jsonl")):
        return demo_pool(size, seed)
    return docstring_pool(size, seed)


def load_targets(name: str, n: int, pool: Sequence[Sample]) -> tuple[list[Sample], str]:
    path = DEMO_DATA / "targets" / f"{name}.jsonl"
    if path.is_file():
        return read_samples(path)[:n], f"{name} ({path.relative_to(REPO_ROOT)})"
    # No demo targets: the last n pool samples stand in (they stay in the pool too).
    return list(pool[-n:]), f"last {n} pool samples (no demo targets found)"


# ----- models and exact labels ------------------------------------------------------------------


def tiny_gpt2(tokenizer, samples: Sequence[Sample], args: argparse.Namespace) -> LoadedModel:
    """A 2-layer GPT-2 over MiniLM's WordPiece vocabulary, briefly trained on the pool."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(args.seed)
    config = GPT2Config(
        vocab_size=tokenizer.vocab_size,
        n_positions=args.max_length,
        n_embd=128,
        n_layer=2,
        n_head=4,
        attn_implementation="eager",
        pad_token_id=tokenizer.pad_token_id,
    )
    model = GPT2LMHeadModel(config)
    tokenized = tokenize_samples(samples, tokenizer, args.max_length)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    order = np.random.default_rng(args.seed).permutation(len(tokenized))
    model.train()
    for step in range(args.tiny_warmup_steps):
        rows = order[(step * 16) % len(order) :][:16]
        batch = collate([tokenized[i] for i in rows], tokenizer.pad_token_id)
        # Padded positions already carry IGNORE_INDEX labels, so they add no loss.
        loss = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["labels"],
        ).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return wrap_model(model, tokenizer, name=TINY_GPT2)


class ExactLabeller:
    """label_fn that scores each sample once and keeps the exact cost per sample."""

    def __init__(self, scorer: ExactLinFiK, target, samples: Sequence[Sample]) -> None:
        self.scorer, self.target, self.samples = scorer, target, samples
        self.cache: dict[int, float] = {}
        self.seconds = 0.0

    def __call__(self, indices: Sequence[int]) -> np.ndarray:
        missing = sorted(set(indices) - self.cache.keys())
        if missing:
            started = time.perf_counter()
            scores = self.scorer.score([self.samples[i] for i in missing], self.target)
            self.seconds += time.perf_counter() - started
            self.cache.update(zip(missing, scores.tolist(), strict=True))
        return np.array([self.cache[i] for i in indices], dtype=np.float64)

    @property
    def seconds_per_sample(self) -> float:
        return self.seconds / len(self.cache)


# ----- one ALinFiK run --------------------------------------------------------------------------


@dataclass
class Row:
    model: str
    n_params: int
    variant: str
    folds: int
    repeats: int
    fraction: float
    n_labels: int
    n_holdout: int
    spearman: float
    kendall_tau: float
    precision_at_10pct: float
    unlabelled_spearman: float
    n_unlabelled_eval: int
    train_seconds: float
    predict_seconds: float
    linfik_s_per_sample: float = math.nan
    alinfik_s_per_sample: float = math.nan
    speedup: float = math.nan
    speedup_with_ingest: float = math.nan


def run_one(
    model: LoadedModel,
    variant: str,
    fraction: float,
    folds: int,
    labeller: ExactLabeller,
    context: dict,
) -> Row:
    # The engine's training defaults (batch 64 and so on), bar fine-tuning's budget.
    config = TrainConfig(
        max_length=context["max_length"],
        finetune_layers=context["ft_layers"],
        finetune_max_epochs=context["ft_epochs"],
        finetune_patience=2,
    )
    result = run_alinfik(
        samples=context["samples"],
        label_fn=labeller,
        encoder=context["encoder"],
        options=AlinfikOptions(
            label_fraction=fraction,
            seed=context["seed"],
            finetune_encoder=variant == "fine-tuned",
            folds=folds,
            repeats=context["repeats"] if folds > 1 else 1,
            train_config=config,
            model_identity=model.identity,
        ),
        features=PoolFeatures(
            strata=context["strata"],
            embeddings=context["embeddings"],
            token_counts=context["token_counts"],
            extra_features=context["extra"].get(variant, (None, ""))[0],
            extra_feature_name=context["extra"].get(variant, (None, ""))[1],
        ),
    )
    evaluated = np.array(sorted(labeller.cache), dtype=np.int64)
    unlabelled = evaluated[~result.is_exact[evaluated]]
    rho = (
        spearman(labeller(unlabelled.tolist()), result.scores[unlabelled])
        if len(unlabelled) >= 2
        else math.nan
    )
    return Row(
        model=model.name,
        n_params=model.n_params,
        variant=variant,
        folds=int(result.fidelity["folds"]),
        repeats=int(result.fidelity["repeats"]),
        fraction=fraction,
        n_labels=len(result.labelled_indices),
        n_holdout=int(result.fidelity["n_holdout"]),
        spearman=result.fidelity["spearman"],
        kendall_tau=result.fidelity["kendall_tau"],
        precision_at_10pct=result.fidelity["precision_at_10pct"],
        unlabelled_spearman=rho,
        n_unlabelled_eval=len(unlabelled),
        train_seconds=result.timings["train_seconds"],
        predict_seconds=result.timings["predict_seconds"]
        + context["extra_seconds"].get(variant, 0.0),
    )


def add_costs(row: Row, exact_per_sample: float, pool_size: int, ingest_seconds: float) -> None:
    row.linfik_s_per_sample = exact_per_sample
    task = row.n_labels * exact_per_sample + row.train_seconds + row.predict_seconds
    row.alinfik_s_per_sample = task / pool_size
    row.speedup = exact_per_sample / row.alinfik_s_per_sample
    row.speedup_with_ingest = exact_per_sample / ((task + ingest_seconds) / pool_size)


def model_features(
    model: LoadedModel, samples: Sequence[Sample], args: argparse.Namespace, context: dict
) -> None:
    """The scored model's proxy inputs per variant, with the seconds they took. Token
    features count in the variant's per-task cost (the service computes them per task);
    layer features count as ingest, as the service stores them once per (sample, model)."""
    started = time.perf_counter()
    tokenized = tokenize_samples(samples, model.tokenizer, args.max_length)
    tokens = token_embedding_features(tokenized, model.model.get_input_embeddings().weight)
    token_seconds = time.perf_counter() - started
    layers = min(args.proxy_layers, len(decoder_layers(model.model)))
    started = time.perf_counter()
    hidden = hidden_state_features(
        model.model, tokenized, pad_id=pad_token_id(model.tokenizer), layers=layers
    )
    layer_seconds = time.perf_counter() - started
    layers_name = f"{FEATURE_NAME}+{layer_feature_name(layers)}"
    context["extra"] = {
        "frozen+tokens": (tokens, FEATURE_NAME),
        "frozen+tokens+layers": (np.hstack([tokens, hidden]), layers_name),
    }
    context["extra_seconds"] = {
        "frozen+tokens": token_seconds,
        "frozen+tokens+layers": token_seconds,
    }
    context["ingest_extra_seconds"] = {"frozen+tokens+layers": layer_seconds}
    context["layer_seconds"] = layer_seconds


def benchmark_model(name: str, args: argparse.Namespace, context: dict) -> tuple[list[Row], dict]:
    samples = context["samples"]
    started = time.perf_counter()
    if name == TINY_GPT2:
        model = tiny_gpt2(context["encoder"].tokenizer, samples, args)
    else:
        model = load_model(name, device="cpu")
    load_seconds = time.perf_counter() - started
    scorer = ExactLinFiK(
        model.model,
        model.tokenizer,
        max_length=args.max_length,
        batch_size=args.exact_batch_size,
        param_filter=args.param_filter,
    )
    started = time.perf_counter()
    target = scorer.target_gradient(context["targets"])
    target_seconds = time.perf_counter() - started
    labeller = ExactLabeller(scorer, target, samples)
    model_features(model, samples, args, context)
    fractions = floats(args.fractions)
    if name in args.full_exact.split(","):
        labeller(list(range(len(samples))))
    elif args.eval_samples:
        largest = stratified_selection(context["strata"], max(fractions), args.seed)
        spare = np.setdiff1d(np.arange(len(samples)), largest)
        picked = np.random.default_rng([args.seed, 2]).permutation(spare)[: args.eval_samples]
        labeller(sorted(picked.tolist()))
    rows = []
    for fraction in fractions:
        runs = [(v, k) for v in args.variants.split(",") for k in ints(args.folds)]
        runs += [("fine-tuned", 1)] if fraction in context["ft_fractions"] else []
        for variant, folds in runs:
            row = run_one(model, variant, fraction, folds, labeller, context)
            rows.append(row)
            print(
                f"  {name} {variant} x{folds} {fraction:.0%}: held-out rho {row.spearman:.3f}, "
                f"unlabelled rho {row.unlabelled_spearman:.3f}",
                file=sys.stderr,
            )
    for row in rows:
        ingest = context["embed_seconds"] + context.get("ingest_extra_seconds", {}).get(
            row.variant, 0.0
        )
        add_costs(row, labeller.seconds_per_sample, len(samples), ingest)
    info = {
        "model": model.name,
        "n_params": model.n_params,
        "load_seconds": load_seconds,
        "target_gradient_seconds": target_seconds,
        "n_exact": len(labeller.cache),
        "exact_seconds": labeller.seconds,
        "exact_s_per_sample": labeller.seconds_per_sample,
        "params_scored": scorer.n_params,
        "token_feature_seconds": context["extra_seconds"]["frozen+tokens"],
        "layer_feature_seconds": context["layer_seconds"],
    }
    return rows, info


# ----- report -----------------------------------------------------------------------------------


def fmt(value: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def heads(row: Row) -> str:
    return str(row.folds) if row.repeats == 1 else f"{row.folds}×{row.repeats}"


def table(rows: Sequence[Row]) -> str:
    header = (
        "| model | encoder | heads | labels | held-out n | Spearman | Kendall τ | P@10% "
        "| unlabelled Spearman (n) | LinFiK s/sample | ALinFiK s/sample | speed-up "
        "| speed-up incl. ingest |"
    )
    lines = [header, "|" + " --- |" * 13]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.variant} | {heads(r)} | {r.n_labels} ({r.fraction:.0%}) "
            f"| {r.n_holdout} "
            f"| {fmt(r.spearman)} | {fmt(r.kendall_tau)} | {fmt(r.precision_at_10pct, 2)} "
            f"| {fmt(r.unlabelled_spearman)} ({r.n_unlabelled_eval}) "
            f"| {r.linfik_s_per_sample:.2e} | {r.alinfik_s_per_sample:.2e} "
            f"| {r.speedup:.1f}x | {r.speedup_with_ingest:.1f}x |"
        )
    return "\n".join(lines)


def summary(infos: Sequence[dict], context: dict, rows: Sequence[Row]) -> str:
    n = len(context["samples"])
    embed_per_sample = context["embed_seconds"] / n
    lines = [
        f"pool: {n} samples from {context['pool_note']}; targets: {context['target_note']}",
        f"max_length {context['max_length']}, torch threads {torch.get_num_threads()}, "
        f"seed {context['seed']}",
        f"ingest (MiniLM, once per sample for all tasks): {embed_per_sample:.2e} s/sample",
    ]
    for info in infos:
        # Marginal: one more sample through MiniLM and the cheapest head of this model's run
        # (a variant's model features are in its predict_seconds).
        own = [r for r in rows if r.model == info["model"] and r.variant != "fine-tuned"]
        inference = min(r.predict_seconds for r in own) / n if own else math.nan
        marginal = info["exact_s_per_sample"] / (inference + embed_per_sample)
        lines.append(
            f"{info['model']}: {info['n_params'] / 1e6:.1f}M params "
            f"({info['params_scored'] / 1e6:.1f}M scored), load {info['load_seconds']:.1f}s, "
            f"target gradient {info['target_gradient_seconds']:.1f}s, exact LinFiK "
            f"{info['n_exact']} samples in {info['exact_seconds']:.1f}s "
            f"= {info['exact_s_per_sample']:.2e} s/sample; "
            f"marginal speed-up per extra sample (embedding + head) {marginal:.0f}x"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    samples, strata, pool_note = load_pool(args.pool_size, args.seed)
    targets, target_note = load_targets(args.target, args.n_targets, samples)
    encoder = SentenceEncoder()
    started = time.perf_counter()
    texts = [s.display_text for s in samples]
    embeddings = encoder.encode(texts, 64, args.max_length)
    token_counts = encoder.token_counts(texts)
    context = {
        "samples": samples,
        "strata": strata,
        "targets": targets,
        "encoder": encoder,
        "embeddings": embeddings,
        "token_counts": token_counts,
        "embed_seconds": time.perf_counter() - started,
        "max_length": args.max_length,
        "seed": args.seed,
        "repeats": args.repeats,
        "pool_note": pool_note,
        "target_note": target_note,
        "ft_layers": args.finetune_layers,
        "ft_epochs": args.finetune_epochs,
        "ft_fractions": floats(args.finetune_fractions),
    }
    rows: list[Row] = []
    infos = []
    for name in args.models.split(","):
        model_rows, info = benchmark_model(name, args, context)
        rows += model_rows
        infos.append(info)
    print(summary(infos, context, rows))
    print()
    print(table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"rows": [asdict(r) for r in rows], "models": infos}, indent=2)
        )


if __name__ == "__main__":
    main()
