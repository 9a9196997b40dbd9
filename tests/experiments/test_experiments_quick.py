"""Smoke tests: every experiment runs end to end at --quick scale (tiny model and pool).

One pipeline run (module fixture) writes into a temporary folder; the tests then check
its outputs and a few numbers that must hold by construction.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from experiments import common, future_influence, run_all, stability
from experiments.lm import Schedule
from experiments.scoring import make_scorer
from valuation.engine.analysis import gradient_cosines, per_sample_gradient_norms

pytestmark = pytest.mark.slow

# Left out to stay fast: the second target's selection repeats the first's code path, and
# the SmolLM2 runs load a 135M-parameter model (the backdoor one has its own test below).
SLOW = {"selection_modern-american-prose", "stability_smollm2", "backdoor_smollm2"}
SMOKE = [name for name in run_all.NAMES if name not in SLOW]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[common.Context]:
    root = tmp_path_factory.mktemp("experiments")
    saved = {key: os.environ.get(key) for key in ("EXPERIMENTS_ROOT", "EXPERIMENTS_FIGURES")}
    os.environ["EXPERIMENTS_ROOT"] = str(root)
    os.environ["EXPERIMENTS_FIGURES"] = str(root / "figures")
    threads = common.torch.get_num_threads()
    try:
        common.configure_threads()
        common.quiet_libraries()
        ctx = common.make_context(quick=True)
        run_all.run_experiments(ctx, SMOKE)
        run_all.write_report(ctx)
        yield ctx
    finally:
        common.torch.set_num_threads(threads)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _result(ctx: common.Context, name: str) -> dict:
    return json.loads((ctx.paths.results / f"{name}.json").read_text())


def test_every_experiment_writes_its_table_and_figures(quick_run: common.Context) -> None:
    for name in [*SMOKE]:
        assert _result(quick_run, name)["scale"] == "quick"
        assert (quick_run.paths.results / f"{name}.md").read_text().startswith(("|", "T", "3"))
    figures = sorted(Path(quick_run.paths.figures).glob("*.png"))
    assert len(figures) >= 9
    assert all(0 < path.stat().st_size < 200_000 for path in figures)
    report = (quick_run.paths.root / "evaluation.md").read_text()
    assert "{{" not in report


def test_stability_ends_at_one_and_matches_the_engine(quick_run: common.Context) -> None:
    result = _result(quick_run, "stability")
    assert result["cos_final"]["mean"][-1] == pytest.approx(1.0)
    assert result["norm_spearman_final"][-1] == pytest.approx(1.0)
    # The chunked multi-checkpoint walk agrees with the engine's pairwise functions.
    pool = common.load_pool(quick_run.scale)
    samples = pool.samples[:3] + pool.samples[-3:]
    steps = quick_run.scale.checkpoint_steps
    scorers = [make_scorer(quick_run, steps[1]), make_scorer(quick_run, steps[-1])]
    walk = stability.gradient_trajectory(
        [partial(stability.flat_gradients, scorer) for scorer in scorers], samples, chunk=4
    )
    np.testing.assert_allclose(walk.cos_next[0], gradient_cosines(*scorers, samples), rtol=1e-5)
    np.testing.assert_allclose(
        walk.norms[0], per_sample_gradient_norms(scorers[0], samples), rtol=1e-5
    )


def test_selection_and_backdoor_outputs(quick_run: common.Context) -> None:
    result = _result(quick_run, "selection_clean-instruction-following")
    methods = {run["method"] for run in result["runs"]}
    assert methods == {"alinfik", "linfik", "random", "low_perplexity", "embedding"}
    assert all(np.isfinite(run["losses"]["test"]).all() for run in result["runs"])
    stats = _result(quick_run, "backdoor")["stats"]["clean-instruction-following"]
    assert all(0.0 <= entry["auc_vs_pool"] <= 1.0 for entry in stats.values())


def test_alinfik_fidelity_and_timed_labels(quick_run: common.Context) -> None:
    result = _result(quick_run, "alinfik_fidelity")
    timed = [run for run in result["runs"] if run["labels_timed"]]
    assert timed and all(run["label_max_abs_diff"] < 1e-6 for run in timed)
    assert all(-1.0 <= run["unlabelled"]["spearman"] <= 1.0 for run in result["runs"])


def test_target_splits_are_disjoint_halves() -> None:
    for name in common.TARGET_NAMES:
        valuation = {s.id for s in common.load_targets(name, "valuation")}
        test = {s.id for s in common.load_targets(name, "test")}
        assert not valuation & test
        assert valuation | test == {s.id for s in common.load_targets(name, "all")}


def test_future_influence_weights_later_checkpoints_by_learning_rate() -> None:
    schedule = Schedule(steps=10, peak_lr=1.0, warmup=1, floor=1.0)  # constant lr 1
    linfik = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    total = future_influence.future_influence([0, 4, 10], linfik, schedule, start=4)
    np.testing.assert_allclose(total, [0.0, 6.0])  # only checkpoint 4, for 6 steps
