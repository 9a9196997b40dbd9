"""The ``python -m valuation.engine score`` contract: outputs, summary, errors, atomicity."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from valuation.engine import cli
from valuation.engine.data import read_samples
from valuation.engine.exact import ExactLinFiK
from valuation.engine.models import load_model

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAIN_RECORDS = [
    {"id": "t0", "text": "the cat sat on the mat"},
    {"id": "t1", "prompt": "question what is red", "response": "answer the fish is red"},
    {"id": "t2", "text": "a dog ran under the big tree"},
    {"id": "t3", "text": "the quick blue bird flew over the sky"},
]
TARGET_RECORDS = [
    {"id": "q0", "prompt": "what sat on the mat", "response": "the cat sat"},
    {"id": "q1", "text": "the bird flew over the pond"},
]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "train": write_jsonl(tmp_path / "train.jsonl", TRAIN_RECORDS),
        "target": write_jsonl(tmp_path / "target.jsonl", TARGET_RECORDS),
        "out": tmp_path / "out" / "scores.jsonl",
    }


def score_args(model: Path | str, files: dict[str, Path], *extra: str) -> list[str]:
    return [
        "score",
        "--model",
        str(model),
        "--train",
        str(files["train"]),
        "--target",
        str(files["target"]),
        "--out",
        str(files["out"]),
        *extra,
    ]


def test_linfik_scores_summary_and_order(tiny_model_dir: Path, files) -> None:
    args = score_args(tiny_model_dir, files, "--method", "linfik", "--batch-size", "3")
    assert cli.main(args) == 0

    lines = [json.loads(line) for line in files["out"].read_text().splitlines()]
    assert [line["id"] for line in lines] == ["t0", "t1", "t2", "t3"]
    assert all(set(line) == {"id", "score"} for line in lines)

    loaded = load_model(tiny_model_dir, device="cpu")
    scorer = ExactLinFiK(loaded.model, loaded.tokenizer, batch_size=3)
    target = scorer.target_gradient(read_samples(files["target"]))
    expected = scorer.score(read_samples(files["train"]), target)
    np.testing.assert_array_equal([line["score"] for line in lines], expected)

    summary = json.loads((files["out"].parent / "scores.summary.json").read_text())
    assert summary["method"] == "linfik"
    assert summary["model"]["identity"] == loaded.identity
    assert summary["model"]["name"] == "tiny-gpt2"
    assert summary["model"]["dtype"] == "float32"
    assert summary["counts"] == {"train": 4, "target": 2}
    assert summary["samples_per_second"] > 0 and summary["seconds"] > 0
    assert summary["peak_memory"]["rss_peak_mib"] > 100
    assert summary["target_gradient_norm"] == pytest.approx(target.norm())
    assert sorted(p.name for p in files["out"].parent.iterdir()) == [
        "scores.jsonl",
        "scores.summary.json",
    ]


@pytest.mark.parametrize(
    ("which", "content", "expected"),
    [
        (
            "train",
            '{"id": "a", "text": "the cat"}\n{"id": "b", "text"\n',
            "train.jsonl:2: malformed",
        ),
        ("train", '{"id": "a", "text": "x", "prompt": "p", "response": "r"}\n', "train.jsonl:1:"),
        ("train", '{"id": "a"}\n', "train.jsonl:1: sample 'a' has neither"),
        ("train", '{"text": "the cat"}\n', "train.jsonl:1: missing field 'id'"),
        ("target", '{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', "target.jsonl:2: dup"),
        ("target", "\n", "target.jsonl:0: file has no samples"),
        ("train", '{"id": "a", "text": "the cat"}\n\n{"id": "b", "text": ""}\n', "train.jsonl:3:"),
    ],
)
def test_bad_input_exits_2_naming_file_and_line(
    tiny_model_dir: Path, files, capsys, which: str, content: str, expected: str
) -> None:
    files[which].write_text(content, encoding="utf-8")
    assert cli.main(score_args(tiny_model_dir, files, "--method", "linfik")) == 2
    assert expected in capsys.readouterr().err
    assert not files["out"].parent.exists() or not any(files["out"].parent.iterdir())


def test_sample_emptied_by_truncation_names_its_line(tiny_model_dir: Path, files, capsys) -> None:
    args = score_args(tiny_model_dir, files, "--method", "linfik", "--max-length", "5")
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "train.jsonl:2: sample 't1' has no predicted tokens" in err


@pytest.mark.parametrize(
    ("model", "extra", "expected"),
    [
        ("no/such/model", [], "unknown model 'no/such/model'"),
        (None, ["--label-fraction", "0"], "--label-fraction must be in (0, 1]"),
        (None, ["--proxy-layers", "-1"], "--proxy-layers must be 0 or more, got -1"),
        (None, ["--param-filter", "nothing_matches"], "selects no trainable parameter"),
    ],
)
def test_bad_options_exit_2(tiny_model_dir, files, capsys, model, extra, expected) -> None:
    args = score_args(model or tiny_model_dir, files, "--method", "linfik", *extra)
    assert cli.main(args) == 2
    assert expected in capsys.readouterr().err
    assert not files["out"].exists()


def test_out_must_be_jsonl(tiny_model_dir: Path, files, capsys) -> None:
    files["out"] = files["out"].with_suffix(".json")
    assert cli.main(score_args(tiny_model_dir, files, "--method", "linfik")) == 2
    assert "must end in .jsonl" in capsys.readouterr().err


def test_failure_while_scoring_leaves_no_output(
    tiny_model_dir: Path, files, monkeypatch: pytest.MonkeyPatch
) -> None:
    files["out"].parent.mkdir()
    files["out"].write_text("previous run\n")

    def broken_score(*args, **kwargs):
        raise RuntimeError("device lost")

    monkeypatch.setattr(ExactLinFiK, "score", broken_score)
    with pytest.raises(RuntimeError, match="device lost"):
        cli.main(score_args(tiny_model_dir, files, "--method", "linfik"))
    assert [p.name for p in files["out"].parent.iterdir()] == ["scores.jsonl"]
    assert files["out"].read_text() == "previous run\n"


def test_module_entry_point_runs_with_progress(tiny_model_dir: Path, files) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "valuation.engine", *score_args(tiny_model_dir, files)]
    done = subprocess.run(
        [*command, "--method", "linfik", "--device", "cpu"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "LinFiK (jvp): 100%" in done.stderr and "wrote 4 scores" in done.stderr
    assert len(files["out"].read_text().splitlines()) == 4

    files["train"].write_text("not json\n")
    failed = subprocess.run(
        [*command, "--method", "linfik"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 2
    assert f"{files['train']}:1: malformed JSON" in failed.stderr


def test_alinfik_keeps_exact_labels_and_reports_fidelity(tiny_model_dir: Path, files) -> None:
    vocabulary = "the a cat dog bird fish sat ran flew on in under mat tree pond sky big red"
    words = vocabulary.split()
    rng = random.Random(0)
    records = [
        {"id": f"s{i}", "text": " ".join(rng.choices(words, k=rng.randint(3, 12)))}
        for i in range(30)
    ]
    write_jsonl(files["train"], records)
    common = ("--batch-size", "8", "--seed", "1")
    assert cli.main(score_args(tiny_model_dir, files, "--method", "linfik", *common)) == 0
    exact = [json.loads(line)["score"] for line in files["out"].read_text().splitlines()]

    args = score_args(tiny_model_dir, files, "--method", "alinfik", "--label-fraction", "0.4")
    assert cli.main([*args, *common]) == 0
    lines = [json.loads(line) for line in files["out"].read_text().splitlines()]
    assert [line["id"] for line in lines] == [r["id"] for r in records]
    summary = json.loads((files["out"].parent / "scores.summary.json").read_text())
    assert summary["method"] == "alinfik"
    assert summary["counts"] == {"train": 30, "target": 2, "labelled": 12}
    assert set(summary["fidelity"]) >= {"spearman", "kendall_tau", "precision_at_10pct"}
    # The tiny model has 2 layers: --proxy-layers 4 (the default) reads after both.
    assert summary["proxy_features"] == (
        "sentence embedding+length+llm-token-embedding-mean+log-predicted"
        "+llm-hidden-after-layer-2-mean-over-loss-positions"
    )
    got = np.array([line["score"] for line in lines])
    matches = int(np.isclose(got, exact, rtol=1e-5, atol=0).sum())
    # Labelled samples keep their exact score (up to float32 batch-composition rounding).
    assert matches >= 12

    assert cli.main([*args, *common, "--proxy-layers", "0"]) == 0
    summary = json.loads((files["out"].parent / "scores.summary.json").read_text())
    assert summary["proxy_features"] == (
        "sentence embedding+length+llm-token-embedding-mean+log-predicted"
    )
