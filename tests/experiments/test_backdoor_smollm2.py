"""The backdoor experiment on SmolLM2-135M: its pool subset, and one tiny end-to-end run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments import backdoor_smollm2, common


def test_subset_keeps_backdoors_matched_clean_rows_and_every_dataset() -> None:
    pool = common.load_pool(common.QUICK)
    setting = backdoor_smollm2.Setting(backdoors=2, per_dataset=1, targets=1)
    sub = backdoor_smollm2.subset(pool, setting, seed=0)
    same_format = (sub.datasets == common.BACKDOOR_DATASET) & ~sub.is_backdoor
    assert sub.is_backdoor.sum() == 2 and same_format.sum() == 2
    others = set(np.unique(pool.datasets)) - {common.BACKDOOR_DATASET}
    assert set(np.unique(sub.datasets)) - {common.BACKDOOR_DATASET} == others
    assert len(sub) == 4 + len(others)


@pytest.mark.slow
def test_quick_run_scores_the_subset_with_smollm2(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPERIMENTS_ROOT", str(tmp_path))
    monkeypatch.setenv("EXPERIMENTS_FIGURES", str(tmp_path / "figures"))
    ctx = common.make_context(quick=True)
    payload = backdoor_smollm2.run(ctx)
    saved = json.loads((ctx.paths.results / "backdoor_smollm2.json").read_text())
    assert saved["checkpoint"] == backdoor_smollm2.CHECKPOINT
    assert payload["n_backdoor"] == 2 and payload["scored_params"] == 7_080_192
    for entry in payload["stats"].values():
        assert 0.0 <= entry["auc_vs_pool"] <= 1.0
    assert "SmolLM2-135M-Instruct" in (ctx.paths.results / "backdoor_smollm2.md").read_text()
