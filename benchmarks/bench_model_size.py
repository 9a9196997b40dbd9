"""Exact LinFiK cost versus model size, over GPT-2 configurations (layers x width).

For each configuration, on the same random token sequences: the fast path (one JVP per
batch), a plain batched forward+backward pass over the same batches, and the batch-size-1
per-sample-gradient loop. Time is wall-clock and process CPU time; memory is the peak RSS
above the level before the phase (high-water mark reset through /proc/self/clear_refs).

    .venv/bin/python benchmarks/bench_model_size.py
    .venv/bin/python benchmarks/bench_model_size.py --configs 2x64,4x256,12x768 --n-train 32
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from valuation.engine.data import TokenizedSample  # noqa: E402
from valuation.engine.exact import ExactLinFiK  # noqa: E402
from valuation.engine.profiling import (  # noqa: E402
    current_rss_mib,
    peak_rss_mib,
    release_free_memory,
    reset_peak_rss,
)
from valuation.engine.reference import score_loop  # noqa: E402


def random_samples(count: int, vocab: int, min_len: int, max_len: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    samples = []
    for index in range(count):
        ids = tuple(
            int(t) for t in rng.integers(1, vocab, size=int(rng.integers(min_len, max_len + 1)))
        )
        samples.append(TokenizedSample(f"s{index}", ids, ids))
    return samples


def build_scorer(layers: int, width: int, vocab: int, batch_size: int) -> ExactLinFiK:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=vocab,
        n_positions=1024,
        n_layer=layers,
        n_embd=width,
        n_head=max(1, width // 64),
        bos_token_id=1,
        eos_token_id=2,
        attn_implementation="eager",
    )
    model = GPT2LMHeadModel(config).eval()
    # Inputs are token ids already; the scorer only needs a padding id.
    tokenizer = SimpleNamespace(pad_token_id=0, eos_token_id=None)
    return ExactLinFiK(model, tokenizer, batch_size=batch_size)


def measure(run: Callable[[], object]) -> dict[str, float]:
    release_free_memory()  # so the baseline is live memory, not freed-but-kept heap
    reset_peak_rss()
    baseline = current_rss_mib() or 0.0
    started, cpu_started = time.perf_counter(), time.process_time()
    run()
    return {
        "wall": time.perf_counter() - started,
        "cpu": time.process_time() - cpu_started,
        "rss_above": peak_rss_mib() - baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="2x64,4x128,4x256,8x256,6x512")
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--n-train", type=int, default=16)
    parser.add_argument("--n-target", type=int, default=4)
    parser.add_argument("--min-length", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-loop", action="store_true", help="skip the per-sample loop")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    configs = [tuple(int(x) for x in c.split("x")) for c in args.configs.split(",")]
    train = random_samples(args.n_train, args.vocab, args.min_length, args.max_length, 0)
    targets = random_samples(args.n_target, args.vocab, args.min_length, args.max_length, 1)
    tokens = sum(len(s.input_ids) for s in train)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), vocab {args.vocab}, "
        f"{args.n_train} samples ({tokens} tokens), batch {args.batch_size}"
    )
    print(
        "\n| layers x width | params (M) | fast path s (CPU s) | samples/s | fwd+bwd s (CPU s) "
        "| fast / fwd+bwd (CPU) | loop s (CPU s) | loop / fast (CPU) | fast path RSS MiB |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    sizes, fast_cpu = [], []
    for layers, width in configs:
        scorer = build_scorer(layers, width, args.vocab, args.batch_size)
        target = scorer.target_gradient(targets)
        scorer.score(train[: args.batch_size], target)  # warm-up: one-time JVP set-up
        fast = measure(lambda s=scorer, t=target: s.score(train, t))
        plain = measure(lambda s=scorer: s.target_gradient(train))
        loop = None if args.no_loop else measure(lambda s=scorer, t=target: score_loop(s, train, t))
        sizes.append(scorer.n_params)
        fast_cpu.append(fast["cpu"])
        loop_cells = (
            "- | -"
            if loop is None
            else f"{loop['wall']:.2f} ({loop['cpu']:.2f}) | {loop['cpu'] / fast['cpu']:.2f}"
        )
        print(
            f"| {layers} x {width} | {scorer.n_params / 1e6:.2f} | {fast['wall']:.2f} "
            f"({fast['cpu']:.2f}) | {args.n_train / fast['wall']:.2f} | {plain['wall']:.2f} "
            f"({plain['cpu']:.2f}) | {fast['cpu'] / plain['cpu']:.2f} | {loop_cells} | "
            f"{fast['rss_above']:.0f} |",
            flush=True,
        )
    if len(sizes) > 1:
        slope = np.polyfit(np.log(sizes), np.log(fast_cpu), 1)[0]
        print(f"\nfast-path CPU time grows as params^{slope:.2f} over these configurations")


if __name__ == "__main__":
    main()
