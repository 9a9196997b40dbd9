"""Sample records, JSONL reading with validation, tokenisation and collation.

A sample is either plain text (``{"id", "text"}``: every token after the first is
predicted from its prefix) or an instruction pair (``{"id", "prompt", "response"}``:
only response tokens are predicted). Batches are right padded and padded or prompt
positions carry the label ``IGNORE_INDEX`` so they never enter a sample's loss.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

IGNORE_INDEX = -100
DEFAULT_MAX_LENGTH = 256


@dataclass(frozen=True)
class Sample:
    """One data record: exactly one of ``text`` or the pair ``prompt`` + ``response``."""

    id: str
    text: str | None = None
    prompt: str | None = None
    response: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"sample id must be a non-empty string, got {self.id!r}")
        for field in ("text", "prompt", "response"):
            value = getattr(self, field)
            if value is not None and not isinstance(value, str):
                raise ValueError(
                    f"sample {self.id!r}: {field!r} must be a string, got {type(value).__name__}"
                )
        has_text = self.text is not None
        has_pair = self.prompt is not None or self.response is not None
        if has_text and has_pair:
            raise ValueError(f"sample {self.id!r} has both 'text' and 'prompt'/'response'")
        if not has_text and not has_pair:
            raise ValueError(f"sample {self.id!r} has neither 'text' nor 'prompt'+'response'")
        if has_pair and (self.prompt is None or self.response is None):
            missing = "prompt" if self.prompt is None else "response"
            raise ValueError(f"sample {self.id!r} has no {missing!r} to go with its pair")

    @property
    def is_pair(self) -> bool:
        return self.text is None

    @property
    def display_text(self) -> str:
        if self.text is not None:
            return self.text
        return f"{self.prompt}\n{self.response}"


class SampleFileError(ValueError):
    """A problem in a JSONL sample file; ``str()`` is ``"path:line: message"``."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(f"{self.path}:{line}: {message}")


@dataclass(frozen=True)
class NumberedSample:
    """A sample with the 1-based line it came from, for error messages."""

    line: int
    sample: Sample


_KNOWN_FIELDS = frozenset({"id", "text", "prompt", "response"})


def _sample_from_record(record: Any) -> Sample:
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    if "id" not in record:
        raise ValueError("missing field 'id'")
    raw_id = record["id"]
    # Integer ids are common in exported datasets; they are kept as their decimal string.
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    fields = {key: record[key] for key in _KNOWN_FIELDS - {"id"} if key in record}
    return Sample(id=raw_id, **fields)


def read_numbered_samples(path: str | Path) -> list[NumberedSample]:
    """Read and validate a JSONL file, keeping each sample's line number.

    Blank lines are skipped. Raises ``SampleFileError`` for a missing or empty file,
    malformed JSON, a bad record or a duplicate id.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise SampleFileError(path, 0, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SampleFileError(path, 0, f"cannot read file: {exc}") from None
    samples: list[NumberedSample] = []
    first_line_of: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SampleFileError(path, number, f"malformed JSON: {exc.msg}") from None
        try:
            sample = _sample_from_record(record)
        except ValueError as exc:
            raise SampleFileError(path, number, str(exc)) from None
        if sample.id in first_line_of:
            raise SampleFileError(
                path,
                number,
                f"duplicate id {sample.id!r} (first on line {first_line_of[sample.id]})",
            )
        first_line_of[sample.id] = number
        samples.append(NumberedSample(number, sample))
    if not samples:
        raise SampleFileError(path, 0, "file has no samples")
    return samples


def read_samples(path: str | Path) -> list[Sample]:
    """Read and validate a JSONL sample file (see ``read_numbered_samples``)."""
    return [numbered.sample for numbered in read_numbered_samples(path)]


class EmptySampleError(ValueError):
    """A sample that has no predicted token after truncation."""

    def __init__(self, sample_id: str, max_length: int) -> None:
        self.sample_id = sample_id
        super().__init__(
            f"sample {sample_id!r} has no predicted tokens after truncation to "
            f"{max_length} tokens (text needs at least 2 tokens, a pair at least one "
            "response token after the prompt)"
        )


@dataclass(frozen=True)
class TokenizedSample:
    """Token ids and aligned labels (``IGNORE_INDEX`` where no loss is taken)."""

    id: str
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]

    @property
    def n_predicted(self) -> int:
        # Position 0 has no prefix, so its label never counts.
        return sum(label != IGNORE_INDEX for label in self.labels[1:])


def tokenize_sample(
    sample: Sample, tokenizer: Any, max_length: int = DEFAULT_MAX_LENGTH
) -> TokenizedSample:
    """Tokenise one sample, truncating to ``max_length`` tokens keeping the beginning."""
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2, got {max_length}")
    if sample.text is not None:
        ids = list(tokenizer(sample.text).input_ids)[:max_length]
        labels = list(ids)
    else:
        prompt_ids = list(tokenizer(sample.prompt).input_ids)
        response_ids = list(tokenizer(sample.response, add_special_tokens=False).input_ids)
        ids = (prompt_ids + response_ids)[:max_length]
        labels = ([IGNORE_INDEX] * len(prompt_ids) + response_ids)[:max_length]
    tokenized = TokenizedSample(sample.id, tuple(ids), tuple(labels))
    if tokenized.n_predicted == 0:
        raise EmptySampleError(sample.id, max_length)
    return tokenized


def tokenize_samples(
    samples: Sequence[Sample], tokenizer: Any, max_length: int = DEFAULT_MAX_LENGTH
) -> list[TokenizedSample]:
    return [tokenize_sample(sample, tokenizer, max_length) for sample in samples]


def pad_token_id(tokenizer: Any) -> int:
    """The id used for right padding; its value never matters since pads are masked."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def collate(samples: Sequence[TokenizedSample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch: input_ids, attention_mask, position_ids and labels, all [B, T]."""
    if not samples:
        raise ValueError("cannot collate an empty batch")
    width = max(len(sample.input_ids) for sample in samples)
    input_ids = torch.full((len(samples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(samples), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(samples), width), dtype=torch.long)
    for row, sample in enumerate(samples):
        n = len(sample.input_ids)
        input_ids[row, :n] = torch.tensor(sample.input_ids)
        labels[row, :n] = torch.tensor(sample.labels)
        attention_mask[row, :n] = 1
    # Right padding keeps every real token at its unpadded position.
    position_ids = torch.arange(width).expand(len(samples), width).contiguous()
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "position_ids": position_ids,
        "labels": labels,
    }


def length_sorted_batches(samples: Sequence[TokenizedSample], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, so little compute goes to padding."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = sorted(range(len(samples)), key=lambda i: len(samples[i].input_ids))
    n_batches = math.ceil(len(order) / batch_size)
    return [order[k * batch_size : (k + 1) * batch_size] for k in range(n_batches)]
