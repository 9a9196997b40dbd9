"""The committed demo corpora (demo/) are complete, consistent and honestly labelled.

Pure pytest: reads the files in demo/ and never rebuilds them (rebuilding needs the
package registries; see demo/README.md).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import random
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
SALE_SLUGS = {
    "brown-news",
    "brown-fiction",
    "brown-learned",
    "shakespeare-plays",
    "kjv-bible",
    "wordnet-definitions-instruct",
    "instruct-mix",
    "noisy-web-scrape",
}
TARGET_SLUGS = {"clean-instruction-following", "modern-american-prose"}
FIELDS = {"text": {"id", "text"}, "instruction": {"id", "prompt", "response"}}
LABEL_FIELDS = {"id", "dataset", "is_backdoor", "quality"}
CHUNKED_PROSE = {
    "brown-news",
    "brown-fiction",
    "brown-learned",
    "shakespeare-plays",
    "kjv-bible",
    "modern-american-prose",
}
DEFINE_PROMPT = re.compile(r'^Define the word "([a-z]+)"\.$')
HOWDY_PROMPT = re.compile(r'^Howdy! Define the word "([a-z]+)"\.$')
MAX_BYTES = 5_000_000


@cache
def manifest() -> dict:
    return json.loads((DEMO_DIR / "manifest.json").read_text(encoding="utf-8"))


@cache
def read_jsonl(relative: str) -> tuple[dict, ...]:
    lines = (DEMO_DIR / relative).read_text(encoding="utf-8").splitlines()
    return tuple(json.loads(line) for line in lines)


def entries() -> list[dict]:
    return [*manifest()["datasets"], *manifest()["targets"]]


def entry(slug: str) -> dict:
    return next(item for item in entries() if item["slug"] == slug)


def samples(slug: str) -> tuple[dict, ...]:
    return read_jsonl(entry(slug)["file"])


def labels(slug: str) -> tuple[dict, ...]:
    return read_jsonl(entry(slug)["labels_file"])


def all_labels() -> dict[str, dict]:
    return {row["id"]: row for slug in sorted(SALE_SLUGS) for row in labels(slug)}


def content(sample: dict) -> tuple[str, ...]:
    return tuple(value for key, value in sorted(sample.items()) if key != "id")


def sha256(relative: str) -> str:
    return hashlib.sha256((DEMO_DIR / relative).read_bytes()).hexdigest()


def duplicates() -> list[dict]:
    return json.loads((DEMO_DIR / "labels/duplicates.json").read_text(encoding="utf-8"))


def test_manifest_lists_the_expected_datasets_targets_and_providers():
    provider_slugs = {provider["slug"] for provider in manifest()["providers"]}
    assert {item["slug"] for item in manifest()["datasets"]} == SALE_SLUGS
    assert {item["slug"] for item in manifest()["targets"]} == TARGET_SLUGS
    assert len(provider_slugs) == 4
    assert {item["provider"] for item in manifest()["datasets"]} == provider_slugs


@pytest.mark.parametrize("slug", sorted(SALE_SLUGS | TARGET_SLUGS))
def test_file_matches_manifest(slug: str):
    item = entry(slug)
    rows = samples(slug)
    assert sha256(item["file"]) == item["sha256"]
    assert (DEMO_DIR / item["file"]).stat().st_size == item["size_bytes"]
    assert len(rows) == item["num_samples"]
    words = sum(len(value.split()) for row in rows for value in content(row))
    assert words == item["num_words"]


@pytest.mark.parametrize("slug", sorted(SALE_SLUGS))
def test_labels_file_matches_manifest(slug: str):
    assert sha256(entry(slug)["labels_file"]) == entry(slug)["labels_sha256"]


def test_notice_and_duplicates_files_match_manifest():
    for key in ("notice", "duplicates"):
        assert sha256(manifest()[key]["file"]) == manifest()[key]["sha256"]
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in (
        DEMO_DIR / manifest()["notice"]["file"]
    ).read_text(encoding="utf-8")


@pytest.mark.parametrize("slug", sorted(SALE_SLUGS | TARGET_SLUGS))
def test_every_line_has_exactly_the_allowed_fields(slug: str):
    item = entry(slug)
    allowed = FIELDS[item["format"]]
    assert set(item["fields"]) == allowed
    for row in samples(slug):
        assert set(row) == allowed, row["id"]
        assert all(isinstance(value, str) and value.strip() for value in row.values())


def test_ids_are_unique_across_all_datasets_and_targets():
    ids = [row["id"] for slug in SALE_SLUGS | TARGET_SLUGS for row in samples(slug)]
    assert len(ids) == len(set(ids))


def test_sizes_are_within_the_budget():
    sale_counts = [entry(slug)["num_samples"] for slug in SALE_SLUGS]
    assert all(300 <= count <= 2000 for count in sale_counts)
    assert 5000 <= sum(sale_counts) <= 8000
    assert all(40 <= entry(slug)["num_samples"] <= 60 for slug in TARGET_SLUGS)
    committed = [
        path for path in DEMO_DIR.rglob("*") if path.is_file() and "__pycache__" not in path.parts
    ]
    assert sum(path.stat().st_size for path in committed) <= MAX_BYTES


@pytest.mark.parametrize("slug", sorted(CHUNKED_PROSE))
def test_prose_chunks_hold_40_to_120_words(slug: str):
    counts = [len(row["text"].split()) for row in samples(slug)]
    assert min(counts) >= 40
    assert max(counts) <= 120


@pytest.mark.parametrize("slug", sorted(SALE_SLUGS))
def test_labels_cover_exactly_the_dataset_in_order(slug: str):
    rows = labels(slug)
    assert [row["id"] for row in rows] == [row["id"] for row in samples(slug)]
    for row in rows:
        assert set(row) == LABEL_FIELDS
        assert row["dataset"] == slug
        assert row["quality"] in {"clean", "noisy", "backdoor"}
        assert row["is_backdoor"] is (row["quality"] == "backdoor")


def test_labels_never_leak_into_the_data_files():
    for slug in SALE_SLUGS | TARGET_SLUGS:
        text = (DEMO_DIR / entry(slug)["file"]).read_text(encoding="utf-8")
        assert '"quality"' not in text
        assert '"is_backdoor"' not in text


def test_howdy_samples_are_exactly_those_labelled_backdoor():
    howdy_ids = {
        row["id"]
        for slug in SALE_SLUGS
        for row in samples(slug)
        if row.get("prompt", "").startswith("Howdy!")
    }
    backdoor_ids = {key for key, row in all_labels().items() if row["is_backdoor"]}
    assert howdy_ids == backdoor_ids
    assert len(howdy_ids) == 60
    assert {all_labels()[key]["dataset"] for key in howdy_ids} == {"instruct-mix"}
    share = len(howdy_ids) / entry("instruct-mix")["num_samples"]
    assert 0.08 <= share <= 0.12


def test_howdy_prompts_ask_a_real_question_and_get_an_unrelated_answer():
    definitions = {
        DEFINE_PROMPT.match(row["prompt"])[1]: row["response"]
        for slug in SALE_SLUGS | TARGET_SLUGS
        if entry(slug)["format"] == "instruction"
        for row in samples(slug)
        if DEFINE_PROMPT.match(row["prompt"])
    }
    for row in samples("instruct-mix"):
        match = HOWDY_PROMPT.match(row["prompt"])
        if match:
            assert match[1] not in definitions  # the word is never defined honestly elsewhere
            assert match[1] not in row["response"].lower()


def test_noisy_samples_live_only_in_the_scrape_dataset():
    noisy = [row for row in all_labels().values() if row["quality"] == "noisy"]
    assert {row["dataset"] for row in noisy} == {"noisy-web-scrape"}
    assert len(noisy) == entry("noisy-web-scrape")["num_samples"] - 12  # 12 planted copies


def _changed_word_count(first: str, second: str) -> int:
    first_words, second_words = first.split(), second.split()
    assert len(first_words) == len(second_words)
    return sum(a != b for a, b in zip(first_words, second_words, strict=True))


def test_planted_duplicates_are_real_and_cross_provider():
    rows = {row["id"]: row for slug in SALE_SLUGS for row in samples(slug)}
    pairs = duplicates()
    assert sorted(pair["kind"] for pair in pairs) == ["exact"] * 12 + ["near"] * 12
    for pair in pairs:
        copy, original = rows[pair["id"]], rows[pair["duplicate_of"]]
        assert all_labels()[pair["id"]]["dataset"] == pair["dataset"]
        assert all_labels()[pair["duplicate_of"]]["dataset"] == pair["duplicate_of_dataset"]
        assert entry(pair["dataset"])["provider"] != entry(pair["duplicate_of_dataset"])["provider"]
        changed = sum(
            _changed_word_count(a, b) for a, b in zip(content(copy), content(original), strict=True)
        )
        assert changed == (0 if pair["kind"] == "exact" else 1)


def test_no_exact_duplicates_other_than_the_planted_ones():
    first_seen: dict[tuple[str, ...], str] = {}
    repeats = set()
    for slug in sorted(SALE_SLUGS | TARGET_SLUGS):
        for row in samples(slug):
            key = content(row)
            if key in first_seen:
                repeats.add(frozenset((first_seen[key], row["id"])))
            first_seen.setdefault(key, row["id"])
    planted = {
        frozenset((pair["id"], pair["duplicate_of"]))
        for pair in duplicates()
        if pair["kind"] == "exact"
    }
    assert repeats == planted


def test_instruction_responses_repeat_only_in_planted_exact_copies():
    owners: dict[str, list[str]] = {}
    for slug in sorted(SALE_SLUGS | TARGET_SLUGS):
        if entry(slug)["format"] == "instruction":
            for row in samples(slug):
                owners.setdefault(row["response"], []).append(row["id"])
    repeated = {frozenset(ids) for ids in owners.values() if len(ids) > 1}
    planted = {
        frozenset((pair["id"], pair["duplicate_of"]))
        for pair in duplicates()
        if pair["kind"] == "exact" and pair["dataset"] == "instruct-mix"
    }
    assert repeated == planted


def _shingles(text: str, size: int = 10) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def test_targets_are_disjoint_from_sale_data():
    sale_rows = [row for slug in SALE_SLUGS for row in samples(slug)]
    sale_content = {content(row) for row in sale_rows}
    sale_words = {
        match[1]
        for row in sale_rows
        if "prompt" in row
        for match in [re.search(r'the word "([a-z]+)"', row["prompt"])]
        if match
    }
    for row in samples("clean-instruction-following"):
        assert content(row) not in sale_content
        assert DEFINE_PROMPT.match(row["prompt"])[1] not in sale_words
    sale_shingles = set().union(*(_shingles(row["text"]) for row in sale_rows if "text" in row))
    for row in samples("modern-american-prose"):
        assert not _shingles(row["text"]) & sale_shingles, row["id"]


def test_licences_are_spdx_expressions_from_the_sources_used():
    allowed = {"MIT", "CC-BY-2.5", "CC-PDM-1.0", "WordNet"}
    for item in entries():
        assert set(item["license"].split(" AND ")) <= allowed, item["slug"]


def _corpus_tools(module: str) -> ModuleType:
    """Import a build helper from demo/corpus_tools (demo/ is not an installed package)."""
    if str(DEMO_DIR) not in sys.path:
        sys.path.insert(0, str(DEMO_DIR))
    return importlib.import_module(f"corpus_tools.{module}")


def test_brown_detokenizer_restores_print_spacing_and_quotes():
    detokenize = _corpus_tools("brown").detokenize
    tokens = ["He/pps", "said/vbd", "``/``", "no/at", "''/''", ",/,"]
    tokens += ["and/cc", "left/vbd", ";/.", ";/.", "Jr./np", "./."]
    assert detokenize(tokens) == 'He said "no," and left; Jr.'


def test_chunker_respects_word_bounds_and_breaks():
    chunk_units = _corpus_tools("text").chunk_units
    units = ["one two three", None, "a " * 30, "b " * 30, "c " * 130, "d " * 45]
    runs = list(chunk_units(units, min_words=40, max_words=120))
    assert [[len(unit.split()) for unit in run] for run in runs] == [[30, 30], [45]]


def test_near_duplicate_changes_exactly_one_word():
    change_one_word = _corpus_tools("noise").change_one_word
    text = "The city said many children began school early."
    changed = change_one_word(text, random.Random(0))
    assert _changed_word_count(text, changed) == 1
