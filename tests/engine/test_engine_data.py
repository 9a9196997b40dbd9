"""Sample records, JSONL validation, tokenisation and collation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from valuation.engine.data import (
    IGNORE_INDEX,
    EmptySampleError,
    Sample,
    SampleFileError,
    collate,
    length_sorted_batches,
    read_numbered_samples,
    read_samples,
    tokenize_sample,
)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_sample_display_text_and_kinds() -> None:
    assert Sample("a", text="hello").display_text == "hello"
    pair = Sample("b", prompt="why", response="because")
    assert pair.display_text == "why\nbecause"
    assert pair.is_pair and not Sample("a", text="x").is_pair


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": "x", "prompt": "p", "response": "r"}, "both"),
        ({}, "neither"),
        ({"prompt": "p"}, "no 'response'"),
        ({"response": "r"}, "no 'prompt'"),
        ({"text": 3}, "'text' must be a string"),
    ],
)
def test_sample_rejects_bad_fields(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Sample("s1", **fields)


def test_read_samples_keeps_order_lines_and_int_ids(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "train.jsonl",
        [
            json.dumps({"id": "x", "text": "the cat"}),
            "",
            json.dumps({"id": 7, "prompt": "why", "response": "because"}),
        ],
    )
    numbered = read_numbered_samples(path)
    assert [(item.line, item.sample) for item in numbered] == [
        (1, Sample("x", text="the cat")),
        (3, Sample("7", prompt="why", response="because")),
    ]
    assert read_samples(path) == [item.sample for item in numbered]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (['{"id": "a", "text": "x"}', '{"id": "b", "text": '], ":2: malformed JSON"),
        (['["a", "b"]'], ":1: expected a JSON object, got list"),
        (['{"text": "x"}'], ":1: missing field 'id'"),
        (['{"id": "a", "text": "x", "prompt": "p", "response": "r"}'], ":1: sample 'a' has both"),
        (['{"id": "a"}'], ":1: sample 'a' has neither"),
        (['{"id": "", "text": "x"}'], ":1: sample id must be a non-empty string"),
        (['{"id": "a", "text": "x"}', "", '{"id": "a", "text": "y"}'], ":3: duplicate id 'a'"),
        (["", "   "], ":0: file has no samples"),
    ],
)
def test_read_samples_errors_name_file_and_line(
    tmp_path: Path, lines: list[str], expected: str
) -> None:
    path = write_lines(tmp_path / "bad.jsonl", lines)
    with pytest.raises(SampleFileError) as caught:
        read_samples(path)
    assert str(caught.value).startswith(str(path) + expected)
    assert isinstance(caught.value, ValueError)


def test_read_samples_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SampleFileError, match="file not found"):
        read_samples(tmp_path / "absent.jsonl")


def test_tokenize_text_predicts_every_token_after_the_first(tokenizer) -> None:
    tokenized = tokenize_sample(Sample("s", text="the cat sat"), tokenizer)
    expected = tokenizer("the cat sat").input_ids
    assert expected[0] == tokenizer.bos_token_id and len(expected) == 4
    assert tokenized.input_ids == tuple(expected)
    assert tokenized.labels == tuple(expected)
    assert tokenized.n_predicted == 3


def test_tokenize_pair_masks_prompt_and_adds_no_second_bos(tokenizer) -> None:
    tokenized = tokenize_sample(Sample("s", prompt="why is it", response="it is red"), tokenizer)
    prompt_ids = tokenizer("why is it").input_ids
    response_ids = tokenizer("it is red", add_special_tokens=False).input_ids
    assert tokenized.input_ids == tuple(prompt_ids + response_ids)
    assert tokenized.labels == tuple([IGNORE_INDEX] * len(prompt_ids) + response_ids)
    assert tokenized.n_predicted == 3


def test_truncation_keeps_the_beginning(tokenizer) -> None:
    tokenized = tokenize_sample(Sample("s", text="a b c d e f"), tokenizer, max_length=3)
    assert tokenized.input_ids == tuple(tokenizer("a b c d e f").input_ids[:3])
    pair = tokenize_sample(Sample("p", prompt="the cat", response="sat on the mat"), tokenizer, 5)
    assert pair.labels == (IGNORE_INDEX,) * 3 + tuple(
        tokenizer("sat on", add_special_tokens=False).input_ids
    )


def test_sample_without_predicted_tokens_is_an_error_naming_it(tokenizer) -> None:
    with pytest.raises(EmptySampleError, match="sample 'short'"):
        tokenize_sample(Sample("short", text=""), tokenizer)  # only <bos>
    with pytest.raises(EmptySampleError, match="sample 'cut' .* truncation to 3"):
        tokenize_sample(Sample("cut", prompt="the cat sat", response="on"), tokenizer, 3)


def test_collate_right_pads_with_masks(tokenizer) -> None:
    long = tokenize_sample(Sample("l", text="the cat sat on"), tokenizer)
    short = tokenize_sample(Sample("s", prompt="the", response="dog"), tokenizer)
    batch = collate([long, short], pad_id=0)
    assert batch["input_ids"].shape == (2, 5)
    assert batch["input_ids"][1].tolist() == list(short.input_ids) + [0, 0]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert (
        batch["labels"][1].tolist()
        == [IGNORE_INDEX, IGNORE_INDEX, short.labels[2]] + [IGNORE_INDEX] * 2
    )
    assert torch.equal(batch["position_ids"][1], torch.arange(5))


def test_length_sorted_batches_cover_every_index_once(tokenizer) -> None:
    texts = ["the cat sat on the mat", "a b", "the dog", "a big red fish swam", "sky"]
    tokenized = [tokenize_sample(Sample(str(i), text=t), tokenizer) for i, t in enumerate(texts)]
    batches = length_sorted_batches(tokenized, batch_size=2)
    assert [len(b) for b in batches] == [2, 2, 1]
    assert sorted(i for b in batches for i in b) == list(range(5))
    lengths = [len(tokenized[i].input_ids) for b in batches for i in b]
    assert lengths == sorted(lengths)
