"""Paths, scales, the demo pool and result writing shared by every experiment.

Two scales: ``full`` (the committed figures, sized to run on a 2-core CPU) and ``quick``
(tiny model and pool, for development and the smoke tests). Each scale caches its
tokenizer, checkpoints, embeddings and scores under its own folder of ``var/experiments``
(or ``$EXPERIMENTS_ROOT``), so experiments reuse them and a quick run never touches the
committed figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from valuation.engine.data import Sample, read_samples

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO_ROOT / "demo"
DOCS_FIGURES = REPO_ROOT / "docs" / "figures"
TARGET_NAMES = ("clean-instruction-following", "modern-american-prose")
MAIN_TARGET = TARGET_NAMES[0]
BACKDOOR_DATASET = "instruct-mix"


@dataclass(frozen=True)
class Scale:
    """Sizes of the shared setup: tokenizer, model, pretraining run and pool."""

    name: str
    vocab_size: int
    n_layer: int
    n_embd: int
    n_head: int
    context: int
    pretrain_steps: int
    batch_size: int
    learning_rate: float
    checkpoint_steps: tuple[int, ...]
    score_step: int  # the "early checkpoint" at which LinFiK / ALinFiK value the pool
    per_dataset: int | None  # pool subset per dataset (None: the whole pool)
    encoder: str  # "minilm" (the product's encoder) or "hashing" (smoke tests only)
    seed: int = 0


FULL = Scale(
    name="full",
    vocab_size=4096,
    n_layer=4,
    n_embd=128,
    n_head=4,
    context=128,
    pretrain_steps=400,
    batch_size=32,
    learning_rate=2e-3,
    checkpoint_steps=(0, 10, 25, 50, 100, 150, 200, 300, 400),
    score_step=100,
    per_dataset=None,
    encoder="minilm",
)

QUICK = Scale(
    name="quick",
    vocab_size=384,
    n_layer=2,
    n_embd=32,
    n_head=2,
    context=48,
    pretrain_steps=12,
    batch_size=8,
    learning_rate=3e-3,
    checkpoint_steps=(0, 6, 12),
    score_step=6,
    per_dataset=20,
    encoder="hashing",
)


@dataclass(frozen=True)
class Paths:
    root: Path  # this scale's cache folder
    figures: Path

    @property
    def tokenizer(self) -> Path:
        return self.root / "tokenizer"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def results(self) -> Path:
        return self.root / "results"

    def checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:06d}"


@dataclass(frozen=True)
class Context:
    """What an experiment runs with: the scale and where it reads and writes."""

    scale: Scale
    paths: Paths

    @property
    def quick(self) -> bool:
        return self.scale.name == "quick"


def quiet_libraries() -> None:
    """No per-save progress bars from transformers in the experiment logs."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def make_context(quick: bool) -> Context:
    scale = QUICK if quick else FULL
    base = Path(os.environ.get("EXPERIMENTS_ROOT", REPO_ROOT / "var" / "experiments"))
    root = base / scale.name
    figures = Path(
        os.environ.get("EXPERIMENTS_FIGURES", root / "figures" if quick else DOCS_FIGURES)
    )
    for folder in (root, figures):
        folder.mkdir(parents=True, exist_ok=True)
    return Context(scale, Paths(root, figures))


def configure_threads() -> int:
    """One intra-op thread unless ``EXPERIMENTS_THREADS`` says otherwise.

    On the shared 2-core machine a training step ran about 4x faster on one thread than
    on two while other jobs were running (threads spin waiting for each other).
    """
    threads = int(os.environ.get("EXPERIMENTS_THREADS", "1"))
    torch.set_num_threads(threads)
    return threads


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----- the demo pool -----------------------------------------------------------------------


@dataclass
class Pool:
    """Candidate samples with their provider dataset and ground-truth labels (row-aligned)."""

    samples: list[Sample]
    datasets: np.ndarray
    is_backdoor: np.ndarray
    quality: np.ndarray

    def __len__(self) -> int:
        return len(self.samples)


def dataset_names() -> list[str]:
    manifest = json.loads((DEMO_DIR / "manifest.json").read_text(encoding="utf-8"))
    return [entry["slug"] for entry in manifest["datasets"]]


def _labels(dataset: str) -> dict[str, dict[str, Any]]:
    path = DEMO_DIR / "labels" / f"{dataset}.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return {record["id"]: record for record in records}


def load_pool(scale: Scale) -> Pool:
    """All sale datasets (or the first ``per_dataset`` of each, backdoors kept in quick runs)."""
    samples, datasets, backdoor, quality = [], [], [], []
    for name in dataset_names():
        rows = read_samples(DEMO_DIR / "data" / f"{name}.jsonl")
        labels = _labels(name)
        if scale.per_dataset is not None:
            poisoned = [s for s in rows if labels[s.id]["is_backdoor"]][:3]
            clean = [s for s in rows if not labels[s.id]["is_backdoor"]]
            rows = poisoned + clean[: scale.per_dataset - len(poisoned)]
        for sample in rows:
            samples.append(sample)
            datasets.append(name)
            backdoor.append(bool(labels[sample.id]["is_backdoor"]))
            quality.append(labels[sample.id]["quality"])
    return Pool(samples, np.array(datasets), np.array(backdoor), np.array(quality))


TARGET_SPLITS = ("valuation", "test", "all")


def load_targets(name: str, split: str = "valuation") -> list[Sample]:
    """A buyer's target samples: the valuation half (even rows) gives g_T, the test half
    (odd rows) measures the trained models, so selection is never judged on the samples
    that chose it."""
    if split not in TARGET_SPLITS:
        raise ValueError(f"unknown target split {split!r}; use one of {TARGET_SPLITS}")
    samples = read_samples(DEMO_DIR / "data" / "targets" / f"{name}.jsonl")
    if split == "all":
        return samples
    return samples[0::2] if split == "valuation" else samples[1::2]


# ----- results --------------------------------------------------------------------------------


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return (
                "n/a"
                if np.isnan(value)
                else f"{value:.3g}"
                if abs(value) < 1e-2
                else f"{value:.3f}"
            )
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_result(ctx: Context, name: str, payload: dict[str, Any], table: str) -> Path:
    """``results/<name>.json`` (all numbers) and ``results/<name>.md`` (the doc's table)."""
    ctx.paths.results.mkdir(parents=True, exist_ok=True)
    payload = {"experiment": name, "scale": ctx.scale.name, **payload}
    path = ctx.paths.results / f"{name}.json"
    path.write_text(json.dumps(_jsonable(payload), indent=1) + "\n", encoding="utf-8")
    (ctx.paths.results / f"{name}.md").write_text(table, encoding="utf-8")
    return path


def save_figure(ctx: Context, fig: Any, name: str) -> Path:
    """PNG at a modest resolution (the committed figures stay well under 200 KB)."""
    import matplotlib.pyplot as plt

    path = ctx.paths.figures / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plt_module() -> Any:
    """matplotlib.pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class Timer:
    """``with Timer() as t: ...; t.seconds``."""

    def __enter__(self) -> Timer:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


def run_main(
    description: str,
    run: Callable[..., dict[str, Any]],
    options: Sequence[tuple[str, dict[str, Any]]] = (),
) -> None:
    """Command line shared by the experiment modules: ``[--quick]`` plus ``options``,
    passed to ``run(ctx, **options)`` by their argparse destination."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny scale, for development")
    for flag, spec in options:
        parser.add_argument(flag, **spec)
    args = vars(parser.parse_args())
    configure_threads()
    quiet_libraries()
    ctx = make_context(args.pop("quick"))
    module = sys.modules[run.__module__]  # "__main__" under -m; its spec has the real name
    name = (module.__spec__.name if module.__spec__ else run.__module__).rsplit(".", 1)[-1]
    if "target" in args:
        name += f"_{args['target']}"
    with Timer() as timer:
        run(ctx, **args)
    record_timing(ctx, name, timer.seconds)
    print(f"done in {timer.seconds:.0f} s; results under {ctx.paths.results}")


def record_timing(ctx: Context, name: str, seconds: float) -> dict[str, float]:
    """Wall seconds of the latest run of each experiment, for the report's timing table."""
    path = ctx.paths.results / "run_all.json"
    timings = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    timings[name] = round(seconds, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(timings, indent=1), encoding="utf-8")
    return timings
